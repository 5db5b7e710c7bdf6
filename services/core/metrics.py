"""Prometheus metrics of every process. Labels are bounded: tenant slugs, fixed outcome names,
error classes from a closed set — never a phone number, a message or a secret."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEBHOOKS = Counter(
    "atende_webhooks_total",
    "Webhook requests by tenant and outcome "
    "(accepted, duplicate, ignored, spooled, unauthorized, unknown_tenant, invalid).",
    ["tenant", "outcome"],
)
WEBHOOK_REFUSALS = Counter(
    "atende_webhook_refusals_total",
    "Webhook messages refused on their own (400/422), by tenant and reason (not_json, "
    "not_object, json_constant, number_too_long, too_deep, schema, too_long, "
    "refused_by_database); the other messages of the same batch are stored.",
    ["tenant", "reason"],
)
SPOOL_PENDING = Gauge(
    "atende_spool_pending",
    "Webhooks in the Redis spool waiting to be stored in Postgres (one list: every api pod "
    "reports it, read it with max).",
)
SPOOL_LOCAL = Gauge(
    "atende_spool_files",
    "Webhooks spooled on this pod's own disk because Redis was unreachable too: lost if the pod "
    "is deleted before they are replayed.",
)
SPOOL_REPLAY_FAILURES = Counter(
    "atende_spool_replay_failures_total",
    "Spooled webhooks whose replay failed for another reason than Postgres being down (kept, "
    "retried every round).",
)
QUEUE_READY = Gauge("atende_queue_ready_jobs", "arq jobs due now and not yet picked up.")
QUEUE_OLDEST_READY = Gauge(
    "atende_queue_oldest_ready_seconds", "How long the oldest job due now has been waiting."
)
TURNS = Counter(
    "atende_turns_total",
    "Finished turns by outcome (answered, superseded, dead, fallback).",
    ["tenant", "outcome"],
)
TURN_LATENCY = Histogram(
    "atende_turn_latency_seconds",
    "From the first message of a burst to the reply accepted by Whaticket.",
    ["tenant"],
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120, 300),
)
LLM_LATENCY = Histogram(
    "atende_llm_latency_seconds",
    "Gemini generate calls.",
    ["tenant", "model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)
LLM_ERRORS = Counter(
    "atende_llm_errors_total", "Gemini call failures by error class.", ["tenant", "error_class"]
)
LLM_TOKENS = Counter("atende_llm_tokens_total", "Tokens used.", ["tenant", "direction"])
KNOWLEDGE_RETRIEVALS = Counter(
    "atende_knowledge_retrievals_total",
    "Knowledge lookups of turns by how they ranked: hybrid (vectors and full-text), fulltext (no "
    "embedder: no Gemini key or embeddings off), or full-text search only because the vectors "
    "were missing, partial, or the embedding call failed (unavailable).",
    ["mode"],
)
SENDS = Counter("atende_sends_total", "Replies sent by channel.", ["tenant", "channel"])
SEND_ERRORS = Counter(
    "atende_send_errors_total", "Whaticket send failures by error class.", ["tenant", "error_class"]
)
AMBIGUOUS_SENDS = Counter(
    "atende_ambiguous_sends_total",
    "Sends given another try after an outcome we could not know (the customer may get the "
    "reply twice).",
    ["tenant"],
)
DEAD_LETTERS = Counter(
    "atende_dead_letters_total", "Turns moved to the dead-letter table.", ["tenant", "stage"]
)
REDELIVERIES = Counter(
    "atende_redeliveries_total",
    "Dead-lettered replies whose Whaticket connection came back: replayed, or stale (too old or "
    "overtaken by a newer turn, kept as a dead letter).",
    ["tenant", "outcome"],
)
BREAKER_REJECTIONS = Counter(
    "atende_breaker_rejections_total", "Calls not made because a breaker was open.", ["dependency"]
)
SWEEPER_REQUEUED = Counter(
    "atende_sweeper_requeued_total", "Messages the sweeper re-enqueued after losing their job."
)
RATE_LIMITED = Counter(
    "atende_rate_limited_total",
    "Rate-limit refusals by tenant and dimension (contact, tenant: a turn deferred; "
    "ip: a webhook source refused before authentication, tenant '-').",
    ["tenant", "dimension"],
)
INGEST_DEFERRED = Counter(
    "atende_ingest_deferred_total",
    "Messages whose turn job was scheduled later than the debounce because the tenant's "
    "ingest quota (spec.rateLimits.perTenantPerMinute) was spent: a flood waits in the queue.",
    ["tenant"],
)
RATE_LIMIT_NOTICES = Counter(
    "atende_rate_limit_notices_total",
    "'Wait a moment' messages sent to contacts kept waiting by a rate limit.",
    ["tenant"],
)
TURNS_PAUSED = Counter(
    "atende_turns_paused_total",
    "Jobs that found their tenant paused (the messages wait for resume).",
    ["tenant"],
)
LLM_BUDGET_USED = Gauge(
    "atende_llm_budget_used_ratio",
    "Share of the tenant's monthly token budget used this month (tenants with a budget only).",
    ["tenant"],
)
LLM_BUDGET_WARNINGS = Counter(
    "atende_llm_budget_warnings_total",
    "Months in which a tenant's token use reached the warning share of its budget.",
    ["tenant"],
)
LLM_BUDGET_EXHAUSTED = Counter(
    "atende_llm_budget_exhausted_turns_total",
    "Turns answered from knowledge only, without the model, because the budget was used up.",
    ["tenant"],
)
GUARD_BLOCKED = Counter(
    "atende_guard_blocked_total",
    "Model replies replaced by a safe answer by the output guard, by reason "
    "(canary, system_prompt, secret, cross_tenant).",
    ["tenant", "reason"],
)
HANDOFFS = Counter(
    "atende_handoffs_total",
    "Conversations handed to a person, by trigger "
    "(keyword, tool, failure, repeated, budget, media, human).",
    ["tenant", "trigger"],
)
HANDOFF_TRANSFERS = Counter(
    "atende_handoff_transfers_total",
    "Whaticket ticket transfers for handoffs, by outcome (transferred, failed, retried).",
    ["tenant", "outcome"],
)
HANDOFF_NOTES = Counter(
    "atende_handoff_notes_total",
    "Handoff notes for the agent, by outcome (posted into the ticket, panel_only, failed, "
    "retried) and who wrote them (gemini, extractive).",
    ["tenant", "outcome", "source"],
)
HANDOFF_SLA_BREACHES = Counter(
    "atende_handoff_sla_breaches_total",
    "Handoffs that no person answered within the tenant's handoff.slaMinutes.",
    ["tenant"],
)
HANDOFFS_WAITING = Gauge(
    "atende_handoffs_waiting",
    "Handoffs no person has answered yet (updated by the handoff watcher).",
    ["tenant"],
)
MEDIA_READ = Counter(
    "atende_media_total",
    "Voice notes and images (features.audio, features.images) read into text before a turn, "
    "or left unread (the customer gets the text-only answer).",
    ["tenant", "kind", "outcome"],
)
DELIVERY_STATUSES = Counter(
    "atende_delivery_statuses_total",
    "Delivery statuses the Cloud API reported for sent messages (sent, delivered, read, failed).",
    ["tenant", "status"],
)
FALLBACKS = Counter(
    "atende_fallbacks_total",
    "Messages moved to a fallback channel (sms, email) because Whaticket could not deliver "
    "them, by the Whaticket error class that decided it.",
    ["tenant", "channel", "reason"],
)
CAMPAIGN_ARRIVALS = Counter(
    "atende_campaign_arrivals_total",
    "Conversations attributed to a campaign (spec.campaigns; ad: an ad no campaign claims), "
    "counted when a conversation's campaign changes.",
    ["tenant", "connection", "campaign"],
)
CAMPAIGN_TURNS = Counter(
    "atende_campaign_turns_total",
    "Finished turns by the conversation's connection and campaign (none: no campaign; other: "
    "one since removed) and outcome (answered, handoff, human, fallback).",
    ["tenant", "connection", "campaign", "outcome"],
)
TICKET_CLOSES = Counter(
    "atende_ticket_closes_total",
    "Whaticket tickets closed for a workflow, by outcome (closed, already_closed, retried, "
    "failed).",
    ["tenant", "outcome"],
)
HANDOFF_RESUMES = Counter(
    "atende_handoff_resumes_total",
    "Conversations given back to the bot, by rule (ticket_closed, silence, command, workflow).",
    ["tenant", "resolution"],
)
HUMAN_MESSAGES = Counter(
    "atende_human_messages_total",
    "Messages a person sent in a conversation (from Whaticket or the phone), seen by the webhook.",
    ["tenant"],
)
REDIS_USED_MEMORY = Gauge(
    "atende_redis_used_memory_bytes", "Memory Redis uses (INFO memory).", ["role"]
)
REDIS_MAX_MEMORY = Gauge(
    "atende_redis_maxmemory_bytes", "Redis maxmemory (0: no limit set).", ["role"]
)
REDIS_KEYS = Gauge("atende_redis_keys", "Keys in the Redis database (DBSIZE).", ["role"])

EVENT_DELIVERIES = Counter(
    "atende_event_deliveries_total",
    "Workflow event delivery attempts by outcome (delivered, retry, failed).",
    ["tenant", "event", "outcome"],
)
EVENT_SUBSCRIPTIONS_DISABLED = Counter(
    "atende_event_subscriptions_disabled_total",
    "Event subscriptions switched off after failing deliveries in a row.",
    ["tenant"],
)
DATABASE_ROLE_CAN_ALTER_AUDIT = Gauge(
    "atende_database_role_can_alter_audit",
    "1 when this process's database role could alter the audit log (superuser, owner of "
    "audit_events, or UPDATE/DELETE/TRUNCATE/TRIGGER on it): run it as the runtime role "
    "(docs/operations.md, Database roles).",
)
RETENTION_ERASED = Counter(
    "atende_retention_erased_total",
    "Rows spec.retention erased (kind: raw_payloads emptied, messages, replies, turns, "
    'handoffs, dead_letters, events, conversations, contacts; audit with tenant "*").',
    ["tenant", "kind"],
)
CONTACTS_FORGOTTEN = Counter(
    "atende_contacts_forgotten_total",
    "Customers erased on request (atende contacts forget, the panel, the action API).",
    ["tenant"],
)
