"""Upcasters: old event shapes read as the current one, on the way in.

A published shape never changes in place. Changing it means raising the payload class's `schema_version` and
registering, beside the model, an upcaster from the previous version:

    @upcaster("StatementIssued", from_version=1)
    def _quote_becomes_text(data: dict[str, Any]) -> dict[str, Any]:
        return {**without(data, "quote"), "text": data["quote"]}

`parse_event` upcasts every event before validating it, so the projector, a replay and every reader see only
current shapes, and the stream keeps the bytes it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# Turns the `data` of one version of a type into the `data` of the next version.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class CannotUpcast(ValueError):
    pass


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register `fn` as the step from `from_version` of `event_type` to the version after it."""

    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in UPCASTERS:
            raise ValueError(f"an upcaster from version {from_version} of {event_type} is registered already")
        UPCASTERS[key] = fn
        return fn

    return register


def widened(*event_types: str, from_version: int) -> None:
    """Register, for each type, a step that keeps the data as it is: the next version only accepts more (a new
    enum member, a new optional field), so every payload of `from_version` is a valid one of the next."""
    for event_type in event_types:
        upcaster(event_type, from_version)(dict)


def upcast(raw: Mapping[str, Any], current_version: int) -> dict[str, Any]:
    """The envelope `raw` with its payload brought up to `current_version`, one registered step at a time."""
    event_type, version = raw.get("type"), raw.get("schema_version", 1)
    if not isinstance(version, int) or version == current_version:
        return dict(raw)  # nothing to do; the envelope's own validation reports a malformed version
    if version > current_version:
        raise CannotUpcast(f"{event_type} version {version} is newer than this code's version {current_version}")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise CannotUpcast(f"the data of {event_type} version {version} is not an object")
    for step in range(version, current_version):
        fn = UPCASTERS.get((str(event_type), step))
        if fn is None:
            raise CannotUpcast(f"no upcaster from version {step} of {event_type} (current: {current_version})")
        data = fn(data)
    return {**raw, "schema_version": current_version, "data": data}
