"""What a name of a list people join may be: shared by the audience layer and the settings that name such a list.

The settings are read before anything else runs, so a sign-up list named by
NEWSLETTER_<SOURCE>_SIGNUP_LIST is checked there against the same rule the
import, the sign-up form and the API apply, and the process refuses to
start with a name no list can have.
"""

from __future__ import annotations

from publisher.core.text_rules import refuse_control_characters

#: Names in this space are an event's audiences (``event:<slug>:attended``), never lists people join.
EVENT_PREFIX = "event:"
#: Longest list name the schema stores (``mailing_lists.name`` is VARCHAR(100)).
MAX_NAME = 100


def is_event_name(name: str) -> bool:
    """Whether ``name`` is in the reserved ``event:`` space (case does not matter)."""
    return name.strip().lower().startswith(EVENT_PREFIX)


def check_name(name: str) -> str:
    """The name stripped; ValueError saying what is wrong when no list can have it (empty, several lines, too long)."""
    try:
        refuse_control_characters(name)
    except ValueError as exc:
        raise ValueError(f"the list name {exc}") from None
    stripped = name.strip()
    if not stripped:
        raise ValueError("the list name is empty")
    if len(stripped) > MAX_NAME:
        raise ValueError(f"the list name is {len(stripped)} characters long; at most {MAX_NAME} fit")
    return stripped


def check_joinable_name(name: str) -> str:
    """``check_name`` for a list people join: names in the ``event:`` space are refused too."""
    stripped = check_name(name)
    if is_event_name(stripped):
        raise ValueError(f"names starting with '{EVENT_PREFIX}' are reserved for event audiences: choose another list name")
    return stripped
