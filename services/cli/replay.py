"""`crisis replay <projection|all>`: check the request, then rebuild the projections with a progress bar."""

from __future__ import annotations

from datetime import UTC, datetime

import nats
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from services.common.eventstream import EventStream, connect_options
from services.common.settings import Settings
from services.projector.operator_errors import OperatorError, select_projections
from services.projector.read_models import PROJECTIONS
from services.projector.replay import plan, replay, resolve_origin


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601; a time without an offset is taken as UTC."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise OperatorError(f"--from-time {text!r} is not an ISO 8601 time (e.g. 2020-10-05T18:00:00+06:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def run(settings: Settings, name: str, from_seq: int | None, from_time: str | None) -> list[str]:
    """Every check comes before the first change: a refusal leaves the database and the stream as they were."""
    projections = select_projections(name, PROJECTIONS)
    when = parse_time(from_time)
    nc = await nats.connect(**connect_options(settings, "crisis-replay") | {"max_reconnect_attempts": 0})
    try:
        origin = await resolve_origin(nc.jetstream(), from_seq, when, EventStream.of(settings))
    finally:
        await nc.close()
    todo = await plan(settings, name, projections, origin)
    lines = [f"{p.name}: swapped in by the interrupted run, skipped" for p in projections if p not in todo]
    columns = (
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8} ev/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(name, total=None, rate="")
        bar = ProgressBar(progress, task, name)
        for projection, done in zip(todo, await replay(settings, name, todo, origin, bar, bar.building), strict=True):
            resumed = f", resumed after {done.resumed_at}" if done.resumed_at >= done.origin else ""
            lines.append(f"{projection.name}: rebuilt from sequence {done.origin}{resumed}, live at {done.live_at}")
    return lines


class ProgressBar:
    """Sequence reached out of the stream's end, with rate and ETA; counted from where this run started. While an
    index is built near the end (seconds at a million events), the bar names it instead of the run."""

    def __init__(self, progress: Progress, task: TaskID, run: str) -> None:
        self.progress, self.task, self.run = progress, task, run
        self.started = False

    def __call__(self, checkpoint: int, target: int) -> None:
        if not self.started:  # a resumed rebuild starts part-way: its rate counts from here
            self.progress.reset(self.task, total=target, completed=checkpoint)
            self.started = True
        speed = self.progress.tasks[self.task].speed
        rate = f"{speed:.0f}" if speed else ""
        self.progress.update(self.task, total=target, completed=checkpoint, rate=rate, description=self.run)

    def building(self, index: str) -> None:
        self.progress.update(self.task, description=f"indexing {index}")
