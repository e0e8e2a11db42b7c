"""A readable line for a report whose source gave no description: the type in words, then each field the payload
fills, actors by name, counts by the source's words. Derived from the payload's fields, so every type (and every
type added later) gets one."""

from __future__ import annotations

import functools
import re
import types
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from schemas.events.base import EventPayload
from schemas.events.casualties import CasualtyFigure, CasualtyGroup
from schemas.values import ActorRef, Quantity
from services.domain.utc import rfc3339

# Payload fields that are the source's own account of the event, in order of preference.
ACCOUNT_FIELDS = ("description", "quote", "reason", "summary", "purpose")


def description(payload: EventPayload) -> str:
    """The source's own account when the payload has one, else a line derived from its fields."""
    for name in ACCOUNT_FIELDS:
        given = getattr(payload, name, None)
        if isinstance(given, str):
            return given
    return f"{_type_in_words(payload)}: {_fields(payload)}"


def quantity_words(count: Quantity) -> str:
    """A count as the source put it: its words, else the number, else the range (`10-20`, `10-` when open)."""
    if count.text:
        return count.text
    if count.value is not None:
        return str(count.value)
    return f"{'' if count.min is None else count.min}-{'' if count.max is None else count.max}"


def _type_in_words(payload: EventPayload) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", payload.event_type()).lower()
    return words[0].upper() + words[1:]


def _fields(model: BaseModel) -> str:
    parts = [(name.replace("_", " "), _words(value)) for name, value in model]
    return "; ".join(f"{name} {words}" for name, words in parts if words)


def _words(value: object) -> str:
    match value:
        case None | [] | False:
            return ""
        case True:
            return "yes"
        case ActorRef(name=name, role=role):
            return f"{name} ({role})" if role else name
        case CasualtyFigure(category=category, group=group, count=count):
            counted = "" if group is CasualtyGroup.TOTAL else f" ({group.value.replace('_', ' ')})"
            return f"{quantity_words(count)} {category.value}{counted}"
        case Quantity():
            return quantity_words(value)
        case Enum():
            return str(value.value)
        case datetime():
            return rfc3339(value)
        case date():
            return value.isoformat()
        case list():
            return ", ".join(filter(None, map(_words, value)))
        case BaseModel():
            return _fields(value)
    return str(value)


@functools.cache
def _stored_accounts(model: type[EventPayload]) -> tuple[str, ...] | None:
    """The account fields a payload class has, in order of preference, when each is text (or None): then its stored
    JSON holds `description`'s answer as it is. None when one is of another type, or an attribute not a field."""
    names = tuple(name for name in ACCOUNT_FIELDS if name in model.model_fields)
    plain = all(_is_text(model.model_fields[name].annotation) for name in names)
    return names if plain and not any(hasattr(model, name) for name in ACCOUNT_FIELDS) else None


def stored_account(model: type[EventPayload], data: dict[str, Any]) -> str | None:
    """`description` of the payload `data` stores (as pydantic dumps one of `model`), when it is the source's own
    account; None when the line is derived from the fields (read the model then)."""
    names = _stored_accounts(model)
    for name in names or ():
        given = data.get(name)
        if isinstance(given, str):
            return given
    return None


def _is_text(annotation: object) -> bool:
    if get_origin(annotation) is Annotated:
        return _is_text(get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or get_origin(annotation) is Union:
        return all(_is_text(arg) for arg in get_args(annotation) if arg is not type(None))
    return annotation is str
