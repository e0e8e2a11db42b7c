"""Where a payload names actors: every `ActorRef` in it, with its path (`speaker`, `members.0`)."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from schemas.values import ActorRef


def actor_refs(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, ActorRef]]:
    for name in type(model).model_fields:
        yield from _refs_in(getattr(model, name), f"{prefix}{name}")


def _refs_in(value: object, path: str) -> Iterator[tuple[str, ActorRef]]:
    if isinstance(value, ActorRef):
        yield path, value
    elif isinstance(value, BaseModel):
        yield from actor_refs(value, f"{path}.")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _refs_in(item, f"{path}.{index}")
