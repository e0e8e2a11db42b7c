"""The `crisis` command line: run everything (`up`), one service, or an operator task."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn

from services.cli.bench.options import DEFAULT_CATCH_UP_SIZE, FsyncMode
from services.cli.bench.workload import Mix
from services.cli.dead_letters import StatusFilter
from services.common.discovery import NoServers, resolve
from services.common.http_protocol import JSON_REFUSALS
from services.common.logging import configure_logging
from services.common.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    help="Event-sourced crisis reporting: ingest -> NATS JetStream -> PostgreSQL -> query.",
    no_args_is_help=True,
    add_completion=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Where embedded servers keep their data [default: CRISIS_DATA_DIR or ~/.local/share/crisis]."
    ),
]


def _settings(data_dir: Path | None = None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _resolved(data_dir: Path | None, needs_database: bool = True) -> Settings:
    try:
        return resolve(_settings(data_dir), needs_database)
    except NoServers as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def up(
    demo: Annotated[
        bool,
        typer.Option(
            help="Load the demo scenarios: the seed article (Kyrgyzstan, October 2020) and a fictional flood."
        ),
    ] = False,
    data_dir: DataDir = None,
    ingest_port: Annotated[int | None, typer.Option(help="[default: CRISIS_INGEST_PORT or 8001]")] = None,
    query_port: Annotated[int | None, typer.Option(help="[default: CRISIS_QUERY_PORT or 8002]")] = None,
    projector_port: Annotated[int | None, typer.Option(help="[default: CRISIS_PROJECTOR_PORT or 8003]")] = None,
) -> None:
    """Run everything on this machine: embedded NATS and PostgreSQL (unless URLs are configured) and all three
    services. Ctrl-C stops it all."""
    from services.cli.up import Stack

    settings = _settings(data_dir)
    if settings.stream_partitions != 1:
        typer.echo(
            "error: crisis up runs one projector, for an unpartitioned stream: unset CRISIS_STREAM_PARTITIONS, or run "
            "the services one by one with a `crisis projector --partition K` for each partition",
            err=True,
        )
        raise typer.Exit(2)
    ports = {"ingest_port": ingest_port, "query_port": query_port, "projector_port": projector_port}
    settings = settings.model_copy(update={k: v for k, v in ports.items() if v is not None})
    raise typer.Exit(Stack(settings, demo=demo).run())


def _workers_help(service: str) -> str:
    return (
        "Processes serving the port (uvicorn workers), each with its own connections; /metrics adds them up. "
        f"[default: CRISIS_{service.upper()}_WORKERS or 1]"
    )


IngestWorkers = Annotated[int | None, typer.Option(min=1, max=64, help=_workers_help("ingest"))]
QueryWorkers = Annotated[int | None, typer.Option(min=1, max=64, help=_workers_help("query"))]


def _serve(service: str, data_dir: Path | None, workers: int | None, needs_database: bool) -> None:
    """Serve `services.<service>.app` with its workers, which read the command's options from the environment."""
    from services.common.workers import serve, settings_environment

    settings_environment({"data_dir": data_dir, f"{service}_workers": workers})
    settings = _resolved(data_dir, needs_database)
    port, count = getattr(settings, f"{service}_port"), getattr(settings, f"{service}_workers")
    serve(f"services.cli.worker_apps:{service}", settings.host, port, count)


@app.command()
def ingest(data_dir: DataDir = None, workers: IngestWorkers = None) -> None:
    """Run the ingest HTTP service (POST /v1/events)."""
    _serve("ingest", data_dir, workers, needs_database=False)


@app.command()
def projector(
    data_dir: DataDir = None,
    partition: Annotated[
        int | None,
        typer.Option(
            help="Feed partition K (0..N-1) of a stream split into N = CRISIS_STREAM_PARTITIONS partitions by "
            "incident; run one projector (and any standbys) per partition. [default: CRISIS_PROJECTOR_PARTITION or 0]"
        ),
    ] = None,
) -> None:
    """Run the projector: stream -> read models, with /healthz, /readyz and /metrics."""
    from services.projector.app import create_app
    from services.projector.partition import NoSuchPartition, Partition

    settings = _resolved(data_dir)
    if partition is not None:
        settings = settings.model_copy(update={"projector_partition": partition})
    try:
        Partition.of(settings)
    except NoSuchPartition as exc:
        typer.echo(f"error: --partition: {exc}", err=True)
        raise typer.Exit(2) from exc
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.projector_port, http=JSON_REFUSALS, log_config=None
    )


@app.command()
def query(data_dir: DataDir = None, workers: QueryWorkers = None) -> None:
    """Run the query HTTP service (GET /v1/incidents ...)."""
    _serve("query", data_dir, workers, needs_database=True)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply pending database migrations (the projector also does this at start)."""
    from services.projector.migrate import migrate as apply

    settings = _resolved(data_dir)
    assert settings.database_url is not None
    applied = apply(settings.database_url)
    typer.echo(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")


@app.command()
def status(data_dir: DataDir = None) -> None:
    """Print the stream, each projection's position and lag, and the dead letters."""
    from services.cli.status import collect, render

    settings = _resolved(data_dir)
    typer.echo(render(asyncio.run(collect(settings))))


@app.command()
def schemas(
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the files differ from the models.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--dir", help="[default: schemas/generated in the source tree]")] = None,
) -> None:
    """Generate the event contract from the models: JSON Schema per event type and envelope, AsyncAPI document."""
    from schemas.contract import GENERATED_DIR, drift, write

    folder = out or GENERATED_DIR
    if check:
        problems = drift(folder)
        for problem in problems:
            typer.echo(f"{folder / problem}", err=True)
        if problems:
            typer.echo("the committed contract differs from the models: run `crisis schemas`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{folder}: up to date")
        return
    changed = write(folder)
    typer.echo(f"{folder}: {len(changed)} file(s) written{': ' + ', '.join(changed) if changed else ''}")


webhooks_app = typer.Typer(help="Webhook endpoints: signed POSTs of matching events.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Where to POST; HTTPS (plain HTTP only to this machine).")],
    secret: Annotated[str, typer.Option(help="Shared secret: deliveries carry its HMAC-SHA256 of the body.")],
    incident: Annotated[str | None, typer.Option(help="Only this incident [default: every incident].")] = None,
    event_type: Annotated[list[str] | None, typer.Option("--type", help="Only this type (repeatable).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Register an endpoint; it receives the events committed from now on."""
    import psycopg

    from services.webhooks.registry import InvalidWebhook, register

    settings = _resolved(data_dir)
    assert settings.database_url is not None
    try:
        with psycopg.connect(settings.database_url) as conn:
            hook = register(conn, url, secret, incident, event_type or [], allow_private=settings.webhook_allow_private)
    except InvalidWebhook as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"webhook {hook.id}: {hook.url} (incident {hook.incident_id or 'any'}, types {hook.event_types or 'any'})"
    )


@webhooks_app.command("remove")
def webhooks_remove(webhook_id: int, data_dir: DataDir = None) -> None:
    """Remove an endpoint and its pending deliveries."""
    import psycopg

    from services.webhooks.registry import remove

    settings = _resolved(data_dir)
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        if not remove(conn, webhook_id):
            typer.echo(f"error: no webhook {webhook_id}", err=True)
            raise typer.Exit(2)
    typer.echo(f"webhook {webhook_id} removed")


def _operate(work: Coroutine[Any, Any, T]) -> T:
    """Run an operator command: a refusal (unknown id or projection, bad position) is a message and exit 2."""
    from services.projector.operator_errors import OperatorError

    try:
        return asyncio.run(work)
    except OperatorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


dead_letters_app = typer.Typer(help="Events a projection could not apply: list, show, retry after a fix, discard.")
app.add_typer(dead_letters_app, name="dead-letters")

DeadLetterId = Annotated[int, typer.Argument(help="The dead letter's id (see `crisis dead-letters list`).")]
Note = Annotated[str | None, typer.Option(help="Why: kept with the decision.")]


@dead_letters_app.command("list")
def dead_letters_list(
    projection: Annotated[str | None, typer.Option(help="Only this projection's.")] = None,
    status: Annotated[StatusFilter, typer.Option(help="Which decisions to show.")] = StatusFilter.open,
    data_dir: DataDir = None,
) -> None:
    """List dead letters (by default those awaiting a decision)."""
    from services.cli.dead_letters import list_text

    typer.echo(_operate(list_text(_resolved(data_dir), projection, status)))


@dead_letters_app.command("show")
def dead_letters_show(dead_letter_id: DeadLetterId, data_dir: DataDir = None) -> None:
    """Show one dead letter: position, subject, headers, error, payload."""
    from services.cli.dead_letters import show_text

    typer.echo(_operate(show_text(_resolved(data_dir), dead_letter_id)))


@dead_letters_app.command("retry")
def dead_letters_retry(dead_letter_id: DeadLetterId, note: Note = None, data_dir: DataDir = None) -> None:
    """Apply the event again (after a fix); exit 1 with the error if it still fails."""
    from services.cli.dead_letters import retry

    error = _operate(retry(_resolved(data_dir), dead_letter_id, note))
    if error is not None:
        typer.echo(f"dead letter {dead_letter_id} still fails: {error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"dead letter {dead_letter_id} applied")


@dead_letters_app.command("discard")
def dead_letters_discard(dead_letter_id: DeadLetterId, note: Note = None, data_dir: DataDir = None) -> None:
    """Record the decision not to apply the event."""
    from services.cli.dead_letters import discard

    _operate(discard(_resolved(data_dir), dead_letter_id, note))
    typer.echo(f"dead letter {dead_letter_id} discarded")


@app.command()
def replay(
    projection: Annotated[str, typer.Argument(help="A projection's name, or `all`.")],
    from_seq: Annotated[int | None, typer.Option(help="Build the fresh tables from this stream sequence on.")] = None,
    from_time: Annotated[
        str | None, typer.Option(help="... or from the first event stored at or after this ISO 8601 time.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Rebuild read models from the stream beside the live tables, then swap them in (blue/green). Safe while
    ingest and the projector run; Ctrl-C stops it, and the same command resumes it."""
    from services.cli.replay import run

    try:
        lines = _operate(run(_resolved(data_dir), projection, from_seq, from_time))
    except KeyboardInterrupt:
        typer.echo("interrupted: the live tables are untouched; run the same command to resume", err=True)
        raise typer.Exit(130) from None
    typer.echo("\n".join(lines))


@app.command()
def export(
    incident: Annotated[str | None, typer.Option(help="Only this incident's events.")] = None,
    from_seq: Annotated[int | None, typer.Option(help="From this stream sequence on.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Write the stream's events to stdout as JSON lines (sequence, subject, headers, event)."""
    from services.cli.archive import export as run

    count = _operate(run(_resolved(data_dir), sys.stdout, incident, from_seq))
    typer.echo(f"exported {count} event(s)", err=True)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A file written by `crisis export`.")],
    data_dir: DataDir = None,
) -> None:
    """Publish the events of an export file again; idempotent by event id (Nats-Msg-Id)."""
    from services.cli.archive import import_file

    stored, duplicates = _operate(import_file(_resolved(data_dir), file))
    typer.echo(f"imported {stored} event(s); {duplicates} already in the stream")


@app.command()
def purge(
    incident: Annotated[str | None, typer.Option(help="Remove every event of this incident.")] = None,
    event: Annotated[list[str] | None, typer.Option("--event", help="Remove this event (repeatable).")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do it; without it, print what would be removed.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Remove an incident's (or events') data for good: rebuild the protected stream without them and empty the
    read models, which the projector rebuilds at its next start. Refused while a projector runs."""
    from services.cli.purge import run

    done = _operate(run(_resolved(data_dir), incident, event or [], yes, typer.echo))
    typer.echo(f"purged: {done.removed} event(s) removed, {done.kept} kept, new last sequence {done.last_seq}")


@app.command()
def bench(
    events: Annotated[int, typer.Option(min=100, help="Events posted per round (batches of 500).")] = 2000,
    rounds: Annotated[int, typer.Option(min=3, help="Rounds; every figure is their median.")] = 3,
    mix: Annotated[Mix, typer.Option(help="Whose type mix: both demo scenarios, or one.")] = Mix.demo,
    fsync: Annotated[
        FsyncMode, typer.Option(help="The embedded nats-server fsyncs before every ack (always) or not (relaxed).")
    ] = FsyncMode.always,
    sizes: Annotated[
        list[int] | None,
        typer.Option(
            "--size",
            min=100,
            help="Also time catch-up at this size (repeatable; default 10,000).",
        ),
    ] = None,
    incidents: Annotated[int, typer.Option(min=2, help="Incidents the events are spread over.")] = 10,
    reads: Annotated[int, typer.Option(min=50, help="Timeline requests per round, on each side.")] = 1000,
    fresh_seconds: Annotated[float, typer.Option(min=1, help="Seconds of posting at 200 events/s.")] = 5.0,
    partitions: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Also time catch-up by this many projectors, one per partition of a copy of the round's events "
            "split by incident; the ratio is the speed-up over one projector.",
        ),
    ] = 1,
    ingest_workers: Annotated[
        int, typer.Option(min=1, max=64, help="Run ingest with this many worker processes (crisis ingest --workers).")
    ] = 1,
    query_workers: Annotated[
        int, typer.Option(min=1, max=64, help="Run query with this many worker processes (crisis query --workers).")
    ] = 1,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write the figures here as JSON.")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Use the servers of the `crisis up` on this data dir [default: embedded servers]."),
    ] = None,
    stream: Annotated[
        str | None,
        typer.Option(
            help="Post to a stream of this name (subjects bench.<name>.events.>), made beside the event stream and "
            "deleted at the end, instead of the event stream itself.",
        ),
    ] = None,
) -> None:
    """Measure the project against the raw limits of this machine (plain nats-py, same run) and print medians
    and ratios. Runs on its own embedded servers unless --data-dir or CRISIS_ URLs name others; refuses a stream
    that holds events or has consumers (give --stream NAME to run beside it)."""
    from rich.console import Console

    from services.cli.bench.errors import BenchFailed, BenchRefused
    from services.cli.bench.options import BenchOptions
    from services.cli.bench.run import run

    settings = _settings()
    configure_logging("WARNING", settings.log_format)  # the table, not a log line per request
    external = data_dir is not None or settings.nats_url is not None or settings.database_url is not None
    if stream is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", stream):
        typer.echo(f"error: --stream {stream!r}: letters, digits, _ and - only, at most 32", err=True)
        raise typer.Exit(2)
    if stream is not None and stream.upper() == settings.stream_name.upper():
        typer.echo(f"error: --stream {stream}: that is the event stream; name one of the bench's own", err=True)
        raise typer.Exit(2)
    if external and fsync is not FsyncMode.always:
        typer.echo("error: --fsync applies to the bench's embedded nats-server, not to given servers", err=True)
        raise typer.Exit(2)
    options = BenchOptions(
        events=events, rounds=rounds, mix=mix, fsync=fsync is FsyncMode.always,
        sizes=tuple(sizes or (DEFAULT_CATCH_UP_SIZE,)), incidents=incidents, clients=64, readers=50, reads=reads,
        fresh_per_second=200.0, fresh_seconds=fresh_seconds,
        external=external, stream=stream, partitions=partitions, ingest_workers=ingest_workers,
        query_workers=query_workers,
    )  # fmt: skip
    try:
        console = Console()
        if not console.is_terminal:  # a log or CI: wide enough for the table's rows on one line each
            console.width = 150
        run(options, _resolved(data_dir) if external else settings, json_file, console)
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:  # Ctrl-C, or SIGTERM (see bench.run)
        typer.echo("error: the bench was stopped; its services and servers are stopped", err=True)
        raise typer.Exit(130) from exc
    except BenchRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except BenchFailed as exc:
        typer.echo(f"error: the bench stopped: {exc}", err=True)
        raise typer.Exit(1) from exc


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
