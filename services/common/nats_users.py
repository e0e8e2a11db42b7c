"""Who may do what on NATS: each service's user and its permissions, written once for every server we configure.

The embedded nats-server of `crisis up` runs with exactly this `authorization` block, and deploy/nats/secure.conf
carries the same text (a unit test keeps the two equal). Passwords never appear in a config: each one is read
from the server's environment, `CRISIS_NATS_<USER>_PASSWORD`.
NATS permissions match whole subject tokens: a consumer name cannot be matched by a prefix (projector-*), so the
projector may manage any consumer of the event stream, and nothing else; a subscriber is denied the projector's
consumers by their names, one by one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from schemas.subjects import ALL_EVENTS, STREAM_NAME

_API = "$JS.API"
STREAM_INFO = (f"{_API}.INFO", f"{_API}.STREAM.INFO.{STREAM_NAME}")
DECLARE_STREAM = (f"{_API}.STREAM.CREATE.{STREAM_NAME}", f"{_API}.STREAM.UPDATE.{STREAM_NAME}")
READ_ONE = (f"{_API}.STREAM.MSG.GET.{STREAM_NAME}", f"{_API}.DIRECT.GET.{STREAM_NAME}.>")
LIST_CONSUMERS = (f"{_API}.CONSUMER.NAMES.{STREAM_NAME}", f"{_API}.CONSUMER.LIST.{STREAM_NAME}")
CONSUME = (
    f"{_API}.CONSUMER.CREATE.{STREAM_NAME}.>",
    f"{_API}.CONSUMER.DURABLE.CREATE.{STREAM_NAME}.*",
    f"{_API}.CONSUMER.INFO.{STREAM_NAME}.*",
    f"{_API}.CONSUMER.MSG.NEXT.{STREAM_NAME}.*",
    *LIST_CONSUMERS,
    f"$JS.ACK.{STREAM_NAME}.>",
)
REPLIES = ("_INBOX.>",)

# The projector's durable consumers, `projector-<group>`: its group feeds every read model, or one of them.
# tests/unit/test_nats_users.py keeps this list equal to the projector's read models.
PROJECTOR_CONSUMERS = tuple(
    f"projector-{group}"
    for group in (
        "all",
        "event-log",
        "incidents",
        "facts",
        "casualties",
        "elections",
        "detentions",
        "statements",
        "actors",
    )
)


def _hands_off(consumer: str) -> tuple[str, ...]:
    """Taking a consumer's deliveries, or acknowledging them (AckPolicy.ALL: everything before too), or changing
    its configuration would stall or skip what it feeds."""
    return (
        f"{_API}.CONSUMER.CREATE.{STREAM_NAME}.{consumer}",
        f"{_API}.CONSUMER.CREATE.{STREAM_NAME}.{consumer}.>",
        f"{_API}.CONSUMER.DURABLE.CREATE.{STREAM_NAME}.{consumer}",
        f"{_API}.CONSUMER.MSG.NEXT.{STREAM_NAME}.{consumer}",
        f"$JS.ACK.{STREAM_NAME}.{consumer}.>",
    )


@dataclass(frozen=True)
class Permissions:
    why: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...] = REPLIES
    publish_deny: tuple[str, ...] = ()


USERS: dict[str, Permissions] = {
    "ingest": Permissions(
        "Publishes events, declares the stream, reads one message back to answer a position conflict (409).",
        publish=(*STREAM_INFO, *DECLARE_STREAM, ALL_EVENTS, *READ_ONE),
    ),
    "projector": Permissions(
        "Consumes through its durable consumers (and recreates them from its checkpoint); never publishes events.",
        publish=(*STREAM_INFO, *DECLARE_STREAM, *CONSUME, f"{_API}.CONSUMER.DELETE.{STREAM_NAME}.*", *READ_ONE),
        publish_deny=(ALL_EVENTS,),
    ),
    "query": Permissions(
        "Reads the stream's end, to refuse a position beyond it; nothing else.",
        publish=STREAM_INFO,
        publish_deny=(ALL_EVENTS,),
    ),
    "subscriber": Permissions(
        "Other services that follow the stream: their own consumers, or the live subjects; no writes of any kind.",
        publish=(*STREAM_INFO, *CONSUME),
        subscribe=(*REPLIES, ALL_EVENTS),
        # Not the projector's consumers; no listing, which would name the replay's temporary consumers.
        publish_deny=(ALL_EVENTS, *LIST_CONSUMERS, *(s for c in PROJECTOR_CONSUMERS for s in _hands_off(c))),
    ),
    "operator": Permissions(
        "Operator commands (status, replay, dead-letters, export, import, purge): the stream's administrator.",
        publish=(">",),
        subscribe=(">",),
    ),
}


def password_variable(user: str) -> str:
    """The server's environment variable holding `user`'s password."""
    return f"CRISIS_NATS_{user.upper()}_PASSWORD"


def _subjects(key: str, subjects: tuple[str, ...], indent: str) -> list[str]:
    # One subject a line; JSON strings are valid NATS config strings, and newlines separate array items.
    return [f"{indent}{key}: [", *(f"{indent}  {json.dumps(s)}" for s in subjects), f"{indent}]"]


def authorization_block() -> str:
    """The nats-server `authorization` block for USERS."""
    lines = ["authorization {", "  users: ["]
    for user, permissions in USERS.items():
        deny = _subjects("deny", permissions.publish_deny, " " * 10) if permissions.publish_deny else []
        lines += [
            f"    # {permissions.why}",
            "    {",
            f"      user: {user}",
            f"      password: ${password_variable(user)}",
            "      permissions: {",
            "        publish: {",
            *_subjects("allow", permissions.publish, " " * 10),
            *deny,
            "        }",
            "        subscribe: {",
            *_subjects("allow", permissions.subscribe, " " * 10),
            "        }",
            "      }",
            "    }",
        ]
    return "\n".join([*lines, "  ]", "}", ""])
