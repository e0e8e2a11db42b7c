"""Where a payload names actors: every `ActorRef` in it, with its path (`speaker`, `members.0`)."""

from __future__ import annotations

import enum
import functools
import types
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel

from schemas.values import ActorRef

# Types whose values hold no model, so no actor: their fields are not looked into.
_LEAVES = (str, int, float, bytes, type(None), date, datetime, time, timedelta, Decimal, uuid.UUID, enum.Enum)


def actor_refs(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, ActorRef]]:
    for name in _fields_that_may_name_actors(type(model)):
        yield from _refs_in(getattr(model, name), f"{prefix}{name}")


def _refs_in(value: object, path: str) -> Iterator[tuple[str, ActorRef]]:
    if isinstance(value, ActorRef):
        yield path, value
    elif isinstance(value, BaseModel):
        yield from actor_refs(value, f"{path}.")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _refs_in(item, f"{path}.{index}")


@functools.cache
def _fields_that_may_name_actors(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields, in order, whose declared type may hold a model: a report's text, numbers and times (most of its
    fields) are skipped without a look, which an export of every event does once a row."""
    return tuple(name for name, field in model.model_fields.items() if _may_hold_a_model(field.annotation))


def _may_hold_a_model(annotation: object) -> bool:
    origin = get_origin(annotation)
    if origin is Literal:
        return False
    if origin is Annotated:
        return _may_hold_a_model(get_args(annotation)[0])
    if origin is not None:  # list[...], tuple[...], X | Y, Optional[...]
        return any(_may_hold_a_model(arg) for arg in get_args(annotation) if arg is not Ellipsis)
    if isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias) and annotation is not Any:
        return not issubclass(annotation, _LEAVES)
    return True  # anything else (Any, a bare list, a type variable): look
