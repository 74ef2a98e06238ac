"""Sending one message over SMTP (aiosmtplib), its failures sorted into the two that matter:
refused for good (a 5xx reply to the message, its sender or its recipient) or not now
(a 4xx, a refused or lost connection, a timeout, no server configured)."""

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
from pydantic import SecretStr

from schemas.runtime.settings import Settings

# Per SMTP command; a server slower than this is retried like one that is down.
SMTP_TIMEOUT_SECONDS = 30


class SmtpFailure(Exception):
    """``str()``: what the server said, for the email's row only (it may name the
    recipient); ``brief``: what logs and Temporal's history may carry."""

    def __init__(self, said: str, brief: str) -> None:
        super().__init__(said)
        self.brief = brief


class SmtpRefused(SmtpFailure):
    """The server refused the message for good: sending it again would be refused again."""


class SmtpUnavailable(SmtpFailure):
    """Not sent now; the same message may go through later."""


@dataclass(frozen=True)
class SmtpServer:
    host: str | None
    port: int
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmtpServer":
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )

    async def send(self, message: EmailMessage) -> None:
        if not self.host:
            said = "no SMTP server is configured (PAYSAGA_SMTP_HOST)"
            raise SmtpUnavailable(said, said)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password.get_secret_value() if self.password else None,
                start_tls=self.starttls,
                timeout=SMTP_TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            _raise_for_reply(exc.recipients[0].code, exc.recipients[0].message)
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our credentials, not the message: fixed by an operator, then sent.
            said = f"SMTP authentication refused ({exc.code})"
            raise SmtpUnavailable(said, said) from None
        except aiosmtplib.SMTPResponseException as exc:
            _raise_for_reply(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            said = f"SMTP server unreachable: {type(exc).__name__}"
            raise SmtpUnavailable(said, said) from None


def _raise_for_reply(code: int, text: str) -> None:
    said = f"SMTP {code}: {text}"[:300]
    if 500 <= code < 600:
        raise SmtpRefused(said, f"SMTP {code}")
    raise SmtpUnavailable(said, f"SMTP {code}")
