"""Read models fed together: one durable consumer, one lease and one fetch, decode and dedupe per event for all.

With a consumer per read model, each event was fetched, decoded, deduplicated and acknowledged once per read
model, capping the rate at the raw fetch rate divided by their number. A group reads the stream once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.projector.messages import StreamMessage
from services.projector.partition import WHOLE_STREAM, Partition
from services.projector.projection import Projection

EVERY_READ_MODEL = "all"  # the group the projector feeds unless told otherwise


@dataclass(frozen=True)
class ProjectionGroup:
    name: str
    members: tuple[Projection, ...]
    partition: Partition = WHOLE_STREAM  # the part of the stream it feeds them

    @classmethod
    def of(cls, projections: Iterable[Projection], partition: Partition = WHOLE_STREAM) -> ProjectionGroup:
        """A group of one is named after its read model (and keeps its consumer); a larger one feeds them all."""
        members = tuple(projections)
        return cls(members[0].name if len(members) == 1 else EVERY_READ_MODEL, members, partition)

    def work_ahead(self, message: StreamMessage) -> None:
        """What each read model can work out from a fetched message alone, done before the message is applied."""
        event = message.event
        if not isinstance(event, str):
            for projection in self.members:
                projection.work_ahead(event, message.position)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.members]

    @property
    def lease_name(self) -> str:
        """The group in this partition, as its lease connection advertises it."""
        return self.partition.name(self.name)

    @property
    def lease_names(self) -> list[str]:
        """What the group's lease locks: each of its read models in this partition."""
        return [self.partition.name(name) for name in self.names]

    @property
    def durable_name(self) -> str:
        return self.partition.name(f"projector-{self.name.replace('_', '-')}")


def group_covers(group_lease: str, projection_lease: str) -> bool:
    """Does the group of this lease name (as a lease connection advertises it) feed this read model's partition?"""
    group, _, group_partition = group_lease.partition("@")
    projection, _, partition = projection_lease.partition("@")
    return group_partition == partition and group in (EVERY_READ_MODEL, projection)
