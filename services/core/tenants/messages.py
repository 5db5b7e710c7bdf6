"""The fixed messages a tenant's bot sends (``spec.messages``): their defaults and placeholders.

Every text the bot sends on its own (not the model's words) is a field here (and the fallback
e-mail's subject is ``fallback.email.subject``, defaulted by :func:`email_subject`). Left out,
a field gets a default in the persona's language (pt-BR, en or es; anything else gets pt-BR)
that promises only what the tenant configured: the handoff keyword is named only when
``spec.handoff.keywords`` has one, a person is promised only when the conversation really goes
to one. A tenant's own text is a template with a fixed set of placeholders (:data:`ALLOWED`),
each with a pt-BR and an English name; ``{{`` and ``}}`` are literal braces. A template is
checked when the tenant is applied (an unknown placeholder, a format spec, ``{a.b}`` or
``{a[0]}`` is refused naming the field) and rendered by plain substitution
(:func:`render`): it cannot read attributes or fail a turn.

The deprecated ``persona.fallbackMessage`` and ``persona.waitMessage`` still work, as literal
text (no placeholders, so an old text with braces stays valid); ``messages.fallback`` and
``messages.wait`` win over them when both are set.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

MAX_MESSAGE_CHARS = 2000


class Kind(StrEnum):
    """A fixed message, named as its ``spec.messages`` field."""

    FALLBACK = "fallback"  # a turn could not be answered (the model failed, a leak blocked)
    NO_ANSWER = "noAnswer"  # answering without the model, nothing in the knowledge matched
    HANDOFF = "handoff"  # handed to a person, in business hours
    HANDOFF_AFTER_HOURS = "handoffAfterHours"  # handed to a person, out of business hours
    STILL_WAITING = "stillWaiting"  # asks again for a person while nobody is at work
    WAIT = "wait"  # a rate limit keeps the customer waiting
    BLOCKED = "blocked"  # the model's reply was blocked (safety filters, the output guard)
    BUDGET_SPENT = "budgetSpent"  # the monthly token budget is used up, no person takes over
    MEDIA_NOT_UNDERSTOOD = "mediaNotUnderstood"  # audio or an image the bot cannot read


# Placeholder -> the value's name (pt-BR names first, English aliases).
PLACEHOLDERS = {
    "empresa": "company",
    "company": "company",
    "quando": "when",
    "when": "when",
    "horario": "hours",
    "hours": "hours",
    "palavra": "keyword",
    "keyword": "keyword",
    "minutos": "minutes",
    "minutes": "minutes",
}
_EVERYWHERE = frozenset({"company", "when", "hours", "keyword"})
ALLOWED = {kind: _EVERYWHERE | ({"minutes"} if kind is Kind.WAIT else set()) for kind in Kind}


def placeholders_of(template: str) -> list[str]:
    """The placeholders a template uses; ValueError (saying why) when it is not a plain one."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        raise ValueError("a lone { or }: write {{ or }} for a literal brace") from None
    used = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{written}}}; known: {known}")
        used.append(name)
    return used


def render(template: str, values: Mapping[str, str]) -> str:
    """Plain substitution of a checked template; ``values`` by value name (``company``, …)."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values.get(PLACEHOLDERS.get(name, ""), ""))
    return "".join(out)


def language_key(language: str) -> str:
    """The phrase language of a BCP-47 tag: pt, en or es; anything else gets pt-BR."""
    base = language.lower().replace("_", "-").split("-")[0]
    return base if base in ("pt", "en", "es") else "pt"


@dataclass(frozen=True, slots=True)
class Facts:
    """What the tenant configured, which the defaults may promise."""

    keyword: bool  # a handoff keyword works (features.handoff and handoff.keywords)
    person_follows: bool  # an automatic handoff reaches a person (tickets can be moved)
    handoff: bool  # the model may hand over (features.handoff)
    opening_ahead: bool  # humans are at work now or will be (business hours)
    media_read: bool  # audio or images are read (features.audio / features.images)


_T = dict[str, str]
_KEYWORD = {
    "pt": ' Se quiser falar com uma pessoa, é só escrever "{palavra}".',
    "en": ' To talk to a person, just write "{keyword}".',
    "es": ' Si quieres hablar con una persona, escribe "{palavra}".',
}
_SORRY = {
    "pt": "Desculpe, não consegui responder agora.",
    "en": "Sorry, I couldn't answer just now.",
    "es": "Lo siento, no pude responder ahora.",
}
_FOLLOWS = {
    "pt": " Um atendente vai falar com você {quando}.",
    "en": " A human agent will talk to you {when}.",
    "es": " Un agente humano hablará contigo {quando}.",
}
_TRY_LATER = {
    "pt": " Pode tentar de novo daqui a pouco?",
    "en": " Could you try again in a little while?",
    "es": " ¿Puedes intentarlo de nuevo en un rato?",
}
_NOT_KNOWN = {
    "pt": "Ainda não sei responder isso por aqui.",
    "en": "I don't know how to answer that here yet.",
    "es": "Todavía no sé responder eso por aquí.",
}
_REPHRASE = {
    "pt": " Pode perguntar de outro jeito?",
    "en": " Could you ask in another way?",
    "es": " ¿Puedes preguntarlo de otra forma?",
}
_CANNOT_HELP = {
    "pt": "Desculpe, não posso ajudar com isso por aqui.",
    "en": "Sorry, I can't help with that here.",
    "es": "Lo siento, no puedo ayudar con eso por aquí.",
}
_OFFER = {
    "pt": " Posso chamar um atendente?",
    "en": " Shall I get a human agent for you?",
    "es": " ¿Quieres que llame a un agente?",
}
_NO_MORE = {
    "pt": "Por enquanto não consigo responder mais nada por aqui.",
    "en": "For now I can't answer anything else here.",
    "es": "Por ahora no puedo responder nada más por aquí.",
}
_HANDOFF = {
    "pt": "Certo! Chamei um atendente humano: ele continua a conversa com você por aqui em breve.",
    "en": "Sure! I have called a human agent: they will continue this conversation here soon.",
    "es": "¡Claro! Llamé a un agente humano: continuará la conversación contigo aquí pronto.",
}
_AWAY = {
    "pt": "Certo! Sua conversa já está na fila de atendimento humano. Nossa equipe volta {quando} "
    "e continua com você por aqui.",
    "en": "Sure! Your conversation is already in the queue for a human agent. Our team is back "
    "{when} and will continue with you here.",
    "es": "¡Claro! Tu conversación ya está en la fila de atención humana. Nuestro equipo vuelve "
    "{quando} y seguirá contigo aquí.",
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
    "pt": "Sua conversa continua na fila de atendimento humano. Nossa equipe volta {quando}.",
    "en": "Your conversation is still in the queue for a human agent. Our team is back {when}.",
    "es": "Tu conversación sigue en la fila de atención humana. Nuestro equipo vuelve {quando}.",
}
_WAIT = {
    "pt": "Recebi sua mensagem! Só um momento, já te respondo.",
    "en": "I got your message! Just a moment, I'll answer you shortly.",
    "es": "¡Recibí tu mensaje! Un momento, ya te respondo.",
}
_TEXT_ONLY = {
    "pt": "Por enquanto eu só consigo ler mensagens de texto. Pode me escrever sua dúvida?",
    "en": "For now I can only read text messages. Could you type your question?",
    "es": "Por ahora solo puedo leer mensajes de texto. ¿Puedes escribir tu pregunta?",
}
_UNREAD = {
    "pt": "Não consegui abrir esse arquivo agora. Pode me escrever sua dúvida?",
    "en": "I couldn't open that file just now. Could you type your question?",
    "es": "No pude abrir ese archivo ahora. ¿Puedes escribir tu pregunta?",
}
_EMAIL_SUBJECT = {
    "pt": "Resposta ao seu contato pelo WhatsApp",
    "en": "Reply to your WhatsApp message",
    "es": "Respuesta a tu contacto por WhatsApp",
}
# The CRD used to fill persona.waitMessage and fallback.email.subject in with these texts: a
# stored BotTenant carrying one has not chosen its own, and gets the default of its language.
OLD_WAIT_DEFAULT = _WAIT["pt"]


class _Persona(Protocol):
    @property
    def fallback_message(self) -> str | None: ...
    @property
    def wait_message(self) -> str | None: ...


def deprecations(persona: _Persona, spec_messages: MessagesSpec) -> list[str]:
    """What a BotTenant still says the old way, for ``tenants apply`` and the operator's
    status: each deprecated persona text it sets, and whether ``spec.messages`` overrides it."""
    notes = []
    for old, text, kind in (
        ("fallbackMessage", persona.fallback_message, Kind.FALLBACK),
        ("waitMessage", persona.wait_message, Kind.WAIT),
    ):
        if text is None or text == OLD_WAIT_DEFAULT:  # the old CRD default: nobody wrote it
            continue
        new = f"spec.messages.{kind.value}"
        wins = f" ({new} is set too and wins)" if spec_messages.custom(kind) else ""
        notes.append(f"spec.persona.{old} is deprecated: use {new}{wins}")
    return notes


def email_subject(subject: str | None, language: str) -> str:
    """``fallback.email.subject`` (literal text), or the default in ``language``."""
    if subject is not None and subject != _EMAIL_SUBJECT["pt"]:
        return subject
    return _EMAIL_SUBJECT[language_key(language)]


def default(kind: Kind, language: str, facts: Facts) -> str:
    """The built-in template of ``kind``, promising only what ``facts`` say is configured."""
    lang = language_key(language)
    keyword = _KEYWORD[lang] if facts.keyword else ""
    match kind:
        case Kind.FALLBACK:
            more = _FOLLOWS[lang] if facts.person_follows else keyword or _TRY_LATER[lang]
            return _SORRY[lang] + more
        case Kind.NO_ANSWER:
            return _NOT_KNOWN[lang] + (keyword or _REPHRASE[lang])
        case Kind.BLOCKED:
            return _CANNOT_HELP[lang] + (keyword or (_OFFER[lang] if facts.handoff else ""))
        case Kind.BUDGET_SPENT:
            return _NO_MORE[lang] + (keyword or _TRY_LATER[lang])
        case Kind.HANDOFF:
            return _HANDOFF[lang]
        case Kind.HANDOFF_AFTER_HOURS:
            return (_AWAY if facts.opening_ahead else _NO_DATE)[lang]
        case Kind.STILL_WAITING:
            return (_STILL_WAITING if facts.opening_ahead else _NO_DATE)[lang]
        case Kind.WAIT:
            return _WAIT[lang]
        case Kind.MEDIA_NOT_UNDERSTOOD:
            return (_UNREAD if facts.media_read else _TEXT_ONLY)[lang]


_Template = str | None


class _Weekly(Protocol):
    @property
    def weekly(self) -> Mapping[Any, Any]: ...


class MessagesSpec(BaseModel):
    """``spec.messages``: the tenant's own texts; a field left out gets :func:`default`."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    fallback: _Template = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    no_answer: _Template = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    handoff: _Template = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    handoff_after_hours: _Template = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    still_waiting: _Template = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    wait: _Template = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    blocked: _Template = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    budget_spent: _Template = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    media_not_understood: _Template = Field(
        default=None, min_length=1, max_length=MAX_MESSAGE_CHARS
    )

    @field_validator("*")
    @classmethod
    def _plain_placeholders(cls, value: _Template, info: ValidationInfo) -> _Template:
        if value is not None and info.field_name is not None:
            kind = Kind(to_camel(info.field_name))
            for name in placeholders_of(value):
                if PLACEHOLDERS[name] not in ALLOWED[kind]:
                    raise ValueError(f"{{{name}}} is only allowed in messages.wait")
        return value

    def custom(self, kind: Kind) -> str | None:
        template: str | None = getattr(self, _FIELDS[kind])
        return template

    def check(self, handoff: bool, keywords: Sequence[str], hours: _Weekly) -> None:
        """Refuse (ValueError naming the fields) a template promising what is not configured:
        ``{palavra}`` without a handoff keyword, ``{horario}`` without weekly hours."""
        used: dict[str, list[str]] = {}
        for kind in Kind:
            template = self.custom(kind)
            for name in placeholders_of(template) if template else []:
                used.setdefault(PLACEHOLDERS[name], []).append(f"messages.{kind.value}")
        if "keyword" in used and not (handoff and any(k.strip() for k in keywords)):
            raise ValueError(
                f"{', '.join(used['keyword'])}: {{palavra}} names a handoff keyword, but "
                "handoff.keywords is empty or features.handoff is off"
            )
        if "hours" in used and not hours.weekly:
            raise ValueError(f"{', '.join(used['hours'])}: {{horario}} needs businessHours.weekly")


_FIELDS = {Kind(to_camel(name)): name for name in MessagesSpec.model_fields}
