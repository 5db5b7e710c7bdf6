"""What the customer is told when a person takes over, honest about when that will be.

In hours the promise is "soon"; out of hours it names the next opening ("amanhã às 8h"), and
with no opening ahead it promises no time at all. Texts exist in pt, en and es (the tenant's
``persona.language``; anything else gets pt-BR, like the business-hours phrases).
"""

from __future__ import annotations

from datetime import datetime

from services.core import hours
from services.core.hours.schedule import language_key
from services.core.tenants.spec import BotTenantSpec

_IN_HOURS = {
    "pt": "Certo! Chamei um atendente humano: ele continua a conversa com você por aqui em breve.",
    "en": "Sure! I have called a human agent: they will continue this conversation here soon.",
    "es": "¡Claro! Llamé a un agente humano: continuará la conversación contigo aquí pronto.",
}
_AWAY = {
    "pt": "Certo! Sua conversa já está na fila de atendimento humano. Nossa equipe volta {when} "
    "e continua com você por aqui.",
    "en": "Sure! Your conversation is already in the queue for a human agent. Our team is back "
    "{when} and will continue with you here.",
    "es": "¡Claro! Tu conversación ya está en la fila de atención humana. Nuestro equipo vuelve "
    "{when} y seguirá contigo aquí.",
}
_NO_DATE = {
    "pt": "Certo! Registrei seu pedido de atendimento humano; a equipe responde por aqui assim "
    "que possível.",
    "en": "Sure! I have registered your request for a human agent; the team will answer here as "
    "soon as possible.",
    "es": "¡Claro! Registré tu pedido de atención humana; el equipo responderá aquí lo antes "
    "posible.",
}
_STILL_WAITING = {
    "pt": "Sua conversa continua na fila de atendimento humano. Nossa equipe volta {when}.",
    "en": "Your conversation is still in the queue for a human agent. Our team is back {when}.",
    "es": "Tu conversación sigue en la fila de atención humana. Nuestro equipo vuelve {when}.",
}
_TEXT_ONLY = {
    "pt": "Por enquanto eu só consigo ler mensagens de texto. Pode me escrever sua dúvida?",
    "en": "For now I can only read text messages. Could you type your question?",
    "es": "Por ahora solo puedo leer mensajes de texto. ¿Puedes escribir tu pregunta?",
}


def handoff_message(spec: BotTenantSpec, now: datetime) -> str:
    """The reply that goes out with a handoff."""
    language = language_key(spec.persona.language)
    if hours.is_open(spec.business_hours, now):
        return _IN_HOURS[language]
    when = hours.next_opening_phrase(spec.business_hours, spec.persona.language, now)
    return _AWAY[language].format(when=when) if when else _NO_DATE[language]


def still_waiting_message(spec: BotTenantSpec, now: datetime) -> str | None:
    """For a customer who asks again while nobody can answer yet (out of hours); None in
    hours, when a person is about to answer and the bot should keep out of the way."""
    if hours.is_open(spec.business_hours, now):
        return None
    language = language_key(spec.persona.language)
    when = hours.next_opening_phrase(spec.business_hours, spec.persona.language, now)
    return _STILL_WAITING[language].format(when=when) if when else _NO_DATE[language]


def text_only_message(spec: BotTenantSpec) -> str:
    return _TEXT_ONLY[language_key(spec.persona.language)]
