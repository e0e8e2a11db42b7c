"""Where a payload names actors: every `ActorRef` in it, with its path (`speaker`, `members.0`)."""

from __future__ import annotations

import enum
import functools
import types
import typing
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


@functools.cache
def stored_ref_fields(model: type[BaseModel]) -> tuple[tuple[str, bool], ...] | None:
    """Where a payload's stored JSON (as pydantic dumps it) holds its actors when each field that may name one is an
    actor, an optional one or a list of them: (field, is a list) in order, the fields whose models name nobody
    (a Quantity) left out. None when a field could hold one deeper (a model that names actors, a union, Any): then
    only `actor_refs` of the model finds them. An export reads a row's actors this way without validating it."""
    found = []
    for name in _fields_that_may_name_actors(model):
        shape = _ref_shape(model.model_fields[name].annotation)
        if shape is None:
            return None
        if shape != "none":
            found.append((name, shape == "list"))
    return tuple(found)


def refs_in_stored(fields: tuple[tuple[str, bool], ...], data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (field, stored actor) pairs of `data` at `stored_ref_fields`, in `actor_refs`'s order."""
    found = []
    for name, is_list in fields:
        value = data.get(name)
        if value is not None:
            found += [(name, ref) for ref in value] if is_list else [(name, value)]
    return found


def _ref_shape(annotation: object) -> str | None:
    """ "one" (an actor, or None), "list" (of actors), "none" (no actor anywhere in it), or None (anything else)."""
    if get_origin(annotation) is Annotated:
        return _ref_shape(get_args(annotation)[0])
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if isinstance(annotation, types.UnionType) or get_origin(annotation) is typing.Union:
        return _ref_shape(args[0]) if len(args) == 1 and _ref_shape(args[0]) != "list" else None
    if get_origin(annotation) is list and len(args) == 1:
        inner = _ref_shape(args[0])
        return {"one": "list", "none": "none"}.get(inner or "")
    if isinstance(annotation, type) and issubclass(annotation, ActorRef):
        return "one"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        nested = stored_ref_fields(annotation)
        return "none" if nested == () else None
    return "none" if not _may_hold_a_model(annotation) else None
