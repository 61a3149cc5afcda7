"""Who acted, in words (issue 19: no internal codes): the system's parts, its tokens and the
command line are named in the reader's language; a person's name is shown as given."""

from __future__ import annotations

from app import i18n
from layouts.components import actor_words


def test_actors_in_words() -> None:
    with i18n.use_language("en"):
        assert actor_words("system:rules") == "System (alert rules)"
        assert actor_words("token:wall-1") == i18n.t("audit_log.by_token", name="wall-1")
        assert actor_words("cli") == "the command line"
        assert actor_words("olivia") == "olivia"
    with i18n.use_language("zh"):
        assert actor_words("cli") == "命令行"
        assert actor_words("system:no-such-part") == "system:no-such-part"  # unknown: as recorded
