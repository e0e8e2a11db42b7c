"""Which partition of the event stream a projector feeds (see EventStream for how the stream is split).

Each partition has its own durable consumer, lease and checkpoint per read model; an unpartitioned stream is
partition 0 of 1, under the names it always had.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.settings import Settings


class NoSuchPartition(ValueError):
    pass


@dataclass(frozen=True)
class Partition:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise NoSuchPartition(
                f"partition {self.index} does not exist: the stream has {self.count} partition(s), "
                f"0..{self.count - 1} (CRISIS_STREAM_PARTITIONS)"
            )

    @classmethod
    def of(cls, settings: Settings) -> Partition:
        return cls(settings.projector_partition, settings.stream_partitions)

    def name(self, base: str) -> str:
        """A consumer's or lease's name for this partition: the unpartitioned one's stays as it was."""
        return base if self.count == 1 else f"{base}@{self.index}"


WHOLE_STREAM = Partition()
