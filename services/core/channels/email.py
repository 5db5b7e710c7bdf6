"""E-mail through the tenant's SMTP server, the fallback for contacts with an address.

Every message of a conversation names the same thread (``References``/``In-Reply-To`` a
per-conversation id), so a mail client shows the replies as one conversation; the
``Message-ID`` is per stored message, so a message sent twice after an ambiguous failure is
recognisably the same one.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from services.core.channels.egress import Egress
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.tenants.spec import EmailFallback, SmtpSecurity


def compose(
    config: EmailFallback,
    *,
    to: str,
    subject: str,
    text: str,
    display_name: str,
    outbound_id: int,
    conversation_id: int,
) -> EmailMessage:
    domain = config.from_address.rsplit("@", 1)[1]
    thread = f"<conversation-{conversation_id}@{domain}>"
    message = EmailMessage()
    message["From"] = f"{display_name} <{config.from_address}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<outbound-{outbound_id}@{domain}>"
    message["In-Reply-To"] = thread
    message["References"] = thread
    message.set_content(text)
    return message


class EmailClient:
    """One SMTP session per message: fallbacks are rare, a pool would idle. The socket comes
    from :class:`Egress` (an address the policy allows); TLS still checks the host's name."""

    def __init__(self, egress: Egress, timeout_seconds: float) -> None:
        self._egress = egress
        self._timeout = timeout_seconds

    async def send(
        self, config: EmailFallback, password: str | None, message: EmailMessage
    ) -> dict[str, object]:
        host = config.host.strip("[]")
        try:
            sock = await self._egress.smtp_socket(host, config.port)
        except OSError as exc:
            raise TransientError("smtp_connect", "cannot reach the SMTP server") from exc
        try:
            errors, _reply = await aiosmtplib.send(
                message,
                sock=sock,
                hostname=host,
                port=None,
                username=config.username,
                password=password if config.username else None,
                use_tls=config.security is SmtpSecurity.TLS,
                start_tls=config.security is SmtpSecurity.STARTTLS,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPException as exc:
            raise _classify(exc) from exc
        except OSError as exc:
            raise TransientError("smtp_connect", "cannot reach the SMTP server") from exc
        finally:
            sock.close()
        if errors:  # a single recipient: refused means refused
            raise PermanentError("smtp_recipient_refused", "the SMTP server refused the address")
        # The server's reply text is not kept: only what we sent identifies the message.
        return {"message_id": message["Message-ID"]}


def _classify(exc: aiosmtplib.SMTPException) -> DependencyError:
    kind = type(exc).__name__
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return PermanentError("smtp_auth", f"SMTP authentication failed ({exc.code})")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPRecipientRefused):
        return PermanentError("smtp_recipient_refused", "the SMTP server refused the address")
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPConnectTimeoutError):
        return TransientError("smtp_connect", f"cannot connect to the SMTP server ({kind})")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPServerDisconnected):
        # The message may have been accepted before the line went quiet.
        return TransientError(
            "smtp_timeout", f"the SMTP server went silent ({kind})", ambiguous=True
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code < 500:
        return TransientError("smtp_4xx", f"SMTP {exc.code}")
    return PermanentError("smtp_rejected", f"SMTP refused the message ({kind})")
