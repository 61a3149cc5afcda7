"""OASIS CAP alerts built by hand: info blocks, areas, envelopes."""

from __future__ import annotations

NS12 = "urn:oasis:names:tc:emergency:cap:1.2"


NS11 = "urn:oasis:names:tc:emergency:cap:1.1"


def info(language: str | None = "en-US", *, event: str = "Flood", headline: str | None = "Flood",
         severity: str = "Severe", urgency: str = "Expected", areas: str = "",
         extra: str = "") -> str:
    """One <info> block."""
    lang = f"<language>{language}</language>" if language is not None else ""
    head = f"<headline>{headline}</headline>" if headline is not None else ""
    return (f"<info>{lang}<category>Met</category><category>Safety</category><event>{event}</event>"
            f"<urgency>{urgency}</urgency><severity>{severity}</severity>"
            f"<certainty>Likely</certainty>{extra}{head}<description>Rising water</description>"
            f"<instruction>Move up</instruction><web>http://w.example/1</web>{areas}</info>")


def alert(*infos: str, ns: str | None = NS12, identifier: str = "A-1", sender: str = "s@x.org",
          status: str = "Actual", msg_type: str = "Alert", references: str | None = None,
          sent: str = "2024-05-01T10:00:00+08:00", decl: bool = True) -> str:
    """One <alert> document (without the XML declaration when ``decl`` is False)."""
    xmlns = f' xmlns="{ns}"' if ns is not None else ""
    refs = f"<references>{references}</references>" if references is not None else ""
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if decl else ""
    return (f"{head}<alert{xmlns}><identifier>{identifier}</identifier><sender>{sender}</sender>"
            f"<sent>{sent}</sent><status>{status}</status><msgType>{msg_type}</msgType>"
            f"<scope>Public</scope>{refs}{''.join(infos)}</alert>")


def area(*shapes: str, desc: str = "Zone") -> str:
    return f"<area><areaDesc>{desc}</areaDesc>{''.join(shapes)}</area>"
