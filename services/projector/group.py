"""Read models fed together: one durable consumer, one lease and one fetch, decode and dedupe per event for all.

With a consumer per read model, each event was fetched, decoded, deduplicated and acknowledged once per read
model, capping the rate at the raw fetch rate divided by their number. A group reads the stream once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.projector.projection import Projection

EVERY_READ_MODEL = "all"  # the group the projector feeds unless told otherwise


@dataclass(frozen=True)
class ProjectionGroup:
    name: str
    members: tuple[Projection, ...]

    @classmethod
    def of(cls, projections: Iterable[Projection]) -> ProjectionGroup:
        """A group of one is named after its read model (and keeps its consumer); a larger one feeds them all."""
        members = tuple(projections)
        return cls(members[0].name if len(members) == 1 else EVERY_READ_MODEL, members)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.members]

    @property
    def durable_name(self) -> str:
        return f"projector-{self.name.replace('_', '-')}"


def group_covers(group_name: str, projection: str) -> bool:
    """Does the group of this name (as a lease connection advertises it) feed `projection`?"""
    return group_name in (EVERY_READ_MODEL, projection)
