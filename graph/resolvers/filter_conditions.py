"""The conditions of a custom inbox's filter (``domain.md`` section 2, custom inboxes): one
registry entry per condition, with everything the API knows about it.

| API name (``ConversationFilter``) | stored name | value | matches conversations whose |
| --- | --- | --- | --- |
| ``assignee`` | ``assignee`` | ``{"user_ids": [..]}``, ``{"me": true}`` or ``{"none": true}`` | contact's assignee |
| ``status`` | ``status`` | ``["OPEN", "CLOSED"]`` | status |
| ``channelIds`` | ``channel_ids`` | channel ids | contact has an identity on one of them |
| ``lastChannelIds`` | ``last_channel_ids`` | channel ids | last message was on one of them |
| ``countryCodes`` | ``country_codes`` | ISO 3166-1 alpha-2 codes | contact's country |
| ``languages`` | ``languages`` | BCP 47 tags | contact's language |
| ``blocked`` | ``blocked`` | boolean | contact's blocked flag |
| ``lastIncomingOlderThanSeconds`` | ``last_incoming_older_than`` | seconds | last inbound message is at least that old |
| ``lastIncomingWithinSeconds`` | ``last_incoming_within`` | seconds | last inbound message is at most that old |

Each :class:`Condition` says how its value comes from the API (``from_input``: global ids
decoded to primary keys), how it is stored (``stored``: the key in the filter's JSON), how it
is validated (``clean``: raising ``BAD_USER_INPUT`` or ``NOT_FOUND`` naming the path), how
it reads back in the API (``to_output``) and which conversations it matches (``predicate``: a
tortoise filter on conversations, never SQL text). "me" means the viewer evaluating the
filter. ``tests/inbox/test_filter_conditions.py`` checks the schema's ``ConversationFilter``
against :data:`CONDITIONS`.

Adding a condition: add an entry to :data:`CONDITIONS` and the field of the same API name to
``ConversationFilter`` (:mod:`graph.schema.inbox`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

import langcodes
import pycountry
import strawberry
from tortoise.expressions import Q, Subquery

from db.models import Channel, ChannelIdentity, ConversationStatus, User
from graph.errors import BadUserInput
from graph.resolvers.lookup import ids_in_workspace

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from graph.permissions.visibility import Viewer

    Decode = Callable[..., int]
    """``decode(global_id, type_name, field=path)``: a primary key (``BAD_USER_INPUT``)."""
    Encode = Callable[[str, int], str]
    """``encode(type_name, primary_key)``: a global id."""

MAX_VALUES = 100
"""The most values one condition lists."""
MAX_SECONDS = 366 * 24 * 3600
"""The longest age a time condition accepts, in seconds (a leap year)."""


@dataclass(frozen=True)
class Condition:
    """One filter condition (see the module docstring).

    Attributes:
        api_name: its field of the ``ConversationFilter`` input (and of the stored filter as
            the API shows it).
        stored: its key in the stored JSON filter.
        clean: ``await clean(viewer, value, path)``: the stored value, validated and
            normalised (sorted, de-duplicated; ids in the viewer's workspace).
        predicate: ``predicate(viewer, value, now)``: the conversations it matches.
        from_input: ``from_input(value, path, decode)``: the input's value in storage shape.
        to_output: ``to_output(value, encode)``: the stored value as the API shows it.
    """

    api_name: str
    stored: str
    clean: Callable[[Viewer, Any, str], Awaitable[Any]]
    predicate: Callable[[Viewer, Any, datetime], Q]
    from_input: Callable[[Any, str, Decode], Any] = lambda value, path, decode: value
    to_output: Callable[[Any, Encode], Any] = lambda value, encode: value

    @property
    def attribute(self) -> str:
        """Its attribute on the strawberry input (``countryCodes`` → ``country_codes``)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.api_name).lower()


def _values(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise BadUserInput("Give at least one value.", field=path)
    if len(value) > MAX_VALUES:
        raise BadUserInput(f"At most {MAX_VALUES} values.", field=path)
    return sorted(set(value), key=str)


# assignee -----------------------------------------------------------------------------------


async def _clean_assignee(viewer: Viewer, value: Any, path: str) -> Any:
    if not isinstance(value, dict) or len(value) != 1:
        raise BadUserInput("`assignee` sets exactly one of userIds, me or none.", field=path)
    if value.get("me") is True or value.get("none") is True:
        return value
    for flag in ("me", "none"):
        if flag in value:  # false: it selects nothing, so it is not a condition
            raise BadUserInput(
                f"`{flag}` is true when given: leave it out to set another condition.",
                field=f"{path}.{flag}",
            )
    ids = _values(value.get("user_ids"), f"{path}.userIds")
    return {
        "user_ids": await ids_in_workspace(User, viewer.workspace_id, ids, field=f"{path}.userIds")
    }


def _assignee_q(viewer: Viewer, value: Any, now: datetime) -> Q:
    if value.get("me"):
        return Q(contact__assignee_id=viewer.user_id)
    if value.get("none"):
        return Q(contact__assignee_id__isnull=True)
    return Q(contact__assignee_id__in=value["user_ids"])


def _assignee_from_input(value: Any, path: str, decode: Decode) -> Any:
    picked = {k: v for k, v in vars(value).items() if v is not None and v is not strawberry.UNSET}
    if "user_ids" in picked:
        field = f"{path}.assignee.userIds"
        return {"user_ids": [decode(i, "User", field=field) for i in picked["user_ids"]]}
    return picked


def _assignee_to_output(value: Any, encode: Encode) -> Any:
    if "user_ids" in value:
        return {"userIds": [encode("User", i) for i in value["user_ids"]]}
    return value


# status ---------------------------------------------------------------------------------------


async def _clean_status(viewer: Viewer, value: Any, path: str) -> Any:
    statuses = _values(value, path)
    if any(s not in ConversationStatus.__members__ for s in statuses):
        raise BadUserInput("Unknown conversation status.", field=path)
    return statuses


def _enum_values(value: Any, path: str, decode: Decode) -> Any:
    return [s.value if isinstance(s, Enum) else s for s in value]


# channels -------------------------------------------------------------------------------------


async def _clean_channels(viewer: Viewer, value: Any, path: str) -> Any:
    return await ids_in_workspace(Channel, viewer.workspace_id, _values(value, path), field=path)


def _channel_ids_from_input(api_name: str) -> Callable[[Any, str, Decode], Any]:
    def from_input(value: Any, path: str, decode: Decode) -> Any:
        return [decode(i, "Channel", field=f"{path}.{api_name}") for i in value]

    return from_input


def _channel_ids_to_output(value: Any, encode: Encode) -> Any:
    return [encode("Channel", i) for i in value]


def _identity_q(viewer: Viewer, value: Any, now: datetime) -> Q:
    contacts = ChannelIdentity.filter(
        workspace_id=viewer.workspace_id, channel_id__in=value
    ).values("contact_id")
    return Q(contact_id__in=Subquery(contacts))


# contact fields -------------------------------------------------------------------------------


async def _clean_countries(viewer: Viewer, value: Any, path: str) -> Any:
    codes = [str(c).upper() for c in _values(value, path)]
    if any(len(c) != 2 or pycountry.countries.get(alpha_2=c) is None for c in codes):
        raise BadUserInput("Country codes are ISO 3166-1 alpha-2, like GB or FR.", field=path)
    return codes


async def _clean_languages(viewer: Viewer, value: Any, path: str) -> Any:
    tags = _values(value, path)
    if any(not isinstance(t, str) or not langcodes.tag_is_valid(t) for t in tags):
        raise BadUserInput("Languages are BCP 47 tags, like en, fr or pt-BR.", field=path)
    return [langcodes.standardize_tag(t) for t in tags]


async def _clean_blocked(viewer: Viewer, value: Any, path: str) -> Any:
    if not isinstance(value, bool):
        raise BadUserInput("`blocked` is true or false.", field=path)
    return value


# time since the last incoming message ---------------------------------------------------------


async def _clean_seconds(viewer: Viewer, value: Any, path: str) -> Any:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SECONDS:
        raise BadUserInput(f"Seconds between 1 and {MAX_SECONDS}.", field=path)
    return value


ASSIGNEE = Condition(
    "assignee",
    "assignee",
    _clean_assignee,
    _assignee_q,
    _assignee_from_input,
    _assignee_to_output,
)
STATUS = Condition(
    "status",
    "status",
    _clean_status,
    lambda viewer, value, now: Q(status__in=value),
    _enum_values,
)
CHANNELS = Condition(
    "channelIds",
    "channel_ids",
    _clean_channels,
    _identity_q,
    _channel_ids_from_input("channelIds"),
    _channel_ids_to_output,
)
LAST_CHANNELS = Condition(
    "lastChannelIds",
    "last_channel_ids",
    _clean_channels,
    lambda viewer, value, now: Q(last_channel_id__in=value),
    _channel_ids_from_input("lastChannelIds"),
    _channel_ids_to_output,
)
COUNTRIES = Condition(
    "countryCodes",
    "country_codes",
    _clean_countries,
    lambda viewer, value, now: Q(contact__country_code__in=value),
)
LANGUAGES = Condition(
    "languages",
    "languages",
    _clean_languages,
    lambda viewer, value, now: Q(contact__language__in=value),
)
BLOCKED = Condition(
    "blocked",
    "blocked",
    _clean_blocked,
    lambda viewer, value, now: Q(contact__blocked=value),
)
OLDER_THAN = Condition(
    "lastIncomingOlderThanSeconds",
    "last_incoming_older_than",
    _clean_seconds,
    lambda viewer, value, now: Q(last_inbound_at__lte=now - timedelta(seconds=value)),
)
WITHIN = Condition(
    "lastIncomingWithinSeconds",
    "last_incoming_within",
    _clean_seconds,
    lambda viewer, value, now: Q(last_inbound_at__gte=now - timedelta(seconds=value)),
)

CONDITIONS: tuple[Condition, ...] = (
    ASSIGNEE,
    STATUS,
    CHANNELS,
    LAST_CHANNELS,
    COUNTRIES,
    LANGUAGES,
    BLOCKED,
    OLDER_THAN,
    WITHIN,
)
"""Every condition, in the order of ``ConversationFilter``'s fields."""
BY_STORED: dict[str, Condition] = {c.stored: c for c in CONDITIONS}
"""Each condition by its stored name."""
BY_ATTRIBUTE: dict[str, Condition] = {c.attribute: c for c in CONDITIONS}
"""Each condition by its attribute on the strawberry input."""


def check_group(children: list[dict[str, Any]], path: str) -> None:
    """Refuse an ``all`` group of stored filter nodes that can match nothing.

    Raises:
        BadUserInput: naming ``path``: two different ``blocked`` values, statuses that exclude
            each other, or an empty window of time since the last incoming message.
    """
    conditions: dict[str, list[Any]] = {}
    for child in children:
        ((key, value),) = child.items()
        conditions.setdefault(key, []).append(value)
    if len(set(conditions.get(BLOCKED.stored, []))) > 1:
        raise BadUserInput(
            "This group asks for blocked and unblocked contacts at once.", field=path
        )
    statuses = [set(v) for v in conditions.get(STATUS.stored, [])]
    if statuses and not set.intersection(*statuses):
        raise BadUserInput("This group asks for statuses that exclude each other.", field=path)
    older = conditions.get(OLDER_THAN.stored, [])
    within = conditions.get(WITHIN.stored, [])
    if older and within and max(older) > min(within):
        raise BadUserInput(
            "This group's time window since the last incoming message is empty.", field=path
        )


def asks_for_blocked(node: dict[str, Any]) -> bool:
    """Whether a stored filter has a ``blocked: true`` condition anywhere: only such a custom
    inbox shows blocked contacts (they appear in no other inbox, ``domain.md`` section 2)."""
    ((key, value),) = node.items()
    if key in ("all", "any"):
        return any(asks_for_blocked(child) for child in value)
    return key == BLOCKED.stored and value is True


__all__ = [
    "BY_ATTRIBUTE",
    "BY_STORED",
    "CONDITIONS",
    "MAX_SECONDS",
    "MAX_VALUES",
    "Condition",
    "asks_for_blocked",
    "check_group",
]
