"""Every table, imported in one place so Alembic sees the whole schema."""

from .audit_event import AuditEvent
from .base import Base
from .contact import Contact
from .conversation import Conversation
from .dead_letter import DeadLetter
from .event_delivery import EventDelivery, EventSubscriptionState
from .handoff import ACTIVE_HANDOFF_STATES, Handoff
from .inbound_message import InboundMessage
from .knowledge_embedding import KnowledgeEmbedding
from .knowledge_entry import KnowledgeEntry
from .llm_usage import LlmUsage
from .outbound_message import OutboundMessage
from .refresh_token import RefreshToken
from .tenant import Tenant
from .tenant_overlay import TenantOverlay
from .turn import OPEN_TURN_STATES, TERMINAL_TURN_STATES, Turn
from .user import User
from .user_invitation import UserInvitation

__all__ = [
    "ACTIVE_HANDOFF_STATES",
    "OPEN_TURN_STATES",
    "TERMINAL_TURN_STATES",
    "AuditEvent",
    "Base",
    "Contact",
    "Conversation",
    "DeadLetter",
    "EventDelivery",
    "EventSubscriptionState",
    "Handoff",
    "InboundMessage",
    "KnowledgeEmbedding",
    "KnowledgeEntry",
    "LlmUsage",
    "OutboundMessage",
    "RefreshToken",
    "Tenant",
    "TenantOverlay",
    "Turn",
    "User",
    "UserInvitation",
]
