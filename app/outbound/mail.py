"""E-mail: composing a notice (plain text and HTML from templates that escape feed text) and
sending it over SMTP with STARTTLS and a login, as [mail] says."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from typing import Any, Sequence

import jinja2

from app.config import MailSettings
from app.i18n import t

SMTP_PERMANENT = range(500, 600)


@dataclass(frozen=True)
class Notice:
    """What one e-mail says, in the reader's language: a heading, rows of facts, a text, a link."""

    subject: str
    heading: str
    rows: Sequence[tuple[str, str]]
    body: str = ""
    link: str = ""
    severity: str = ""  # the severity's name as shown, with its colour
    severity_colour: str = ""


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("app.outbound", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def compose(notice: Notice, to: Sequence[str], settings: MailSettings) -> dict[str, Any]:
    """The queued form of one e-mail (JSON-ready): addresses, subject, text and HTML."""
    lang = settings.language
    values = {"lang": lang, "subject": notice.subject, "heading": notice.heading,
              "rows": list(notice.rows), "body": notice.body, "link": notice.link,
              "link_text": t("mail.open", lang), "severity": notice.severity,
              "severity_colour": notice.severity_colour or "#8C8C8C",
              "product": t("app.tagline", lang), "footer": t("mail.footer", lang)}
    env = _templates()
    return {"id": uuid.uuid4().hex, "to": list(to), "subject": notice.subject,
            "text": env.get_template("mail.txt").render(values),
            "html": env.get_template("mail.html").render(values)}


def message_of(queued: dict[str, Any], settings: MailSettings) -> EmailMessage:
    """The MIME message of a queued e-mail (text with an HTML alternative)."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(queued["to"])
    # A subject carries feed text: header injection is refused by EmailMessage itself, and line
    # breaks are taken out before it sees them.
    message["Subject"] = " ".join(str(queued["subject"]).split())
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=queued["id"][:16], domain="cityops")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(queued["text"])
    message.add_alternative(queued["html"], subtype="html")
    return message


class MailError(Exception):
    """Sending failed. ``permanent``: the server refused this message for good (retrying the same
    message cannot help)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def send(queued: dict[str, Any], settings: MailSettings) -> None:
    """Send one queued e-mail; raises MailError saying what went wrong."""
    if not settings.host:
        raise MailError("no mail server configured ([mail] host)", permanent=True)
    message = message_of(queued, settings)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
            smtp.ehlo()
            if settings.starttls:
                context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file
                                                     else None)
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"every recipient refused: {_codes(exc.recipients)}", permanent=True) from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"{exc.smtp_code} {_text(exc.smtp_error)}",
                        permanent=exc.smtp_code in SMTP_PERMANENT
                        and not isinstance(exc, smtplib.SMTPAuthenticationError)) from exc
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise MailError(f"no answer: {exc}"[:200]) from exc
    if refused:
        # The others got it; the refused ones will not take it on a retry either.
        raise MailError(f"some recipients refused: {_codes(refused)}", permanent=True)


def _text(raw: bytes | str) -> str:
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))[:200]


def _codes(recipients: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{addr} ({code})" for addr, (code, _) in recipients.items())

