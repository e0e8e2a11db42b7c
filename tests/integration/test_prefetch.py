"""The projector fetches the next batch while one is committing, against the real servers: the batch fetched
ahead waits for the one before, whose failed COMMIT is retried before anything after it is acknowledged. Caught
up, it fetches nothing ahead: the next batch is fetched after the COMMIT, with every event that came meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError
from psycopg import AsyncConnection, sql

from schemas.envelope import Event
from schemas.subjects import STREAM_NAME
from services.common.settings import Settings
from services.projector.projection import Position, Projection
from tests.conftest import incident_id
from tests.factories import make_event
from tests.integration.test_projector import checkpoints, fetch, publish, running_projector
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stream")

BATCH = 5
REFUSED_COMMITS = 2

# Rows in the order they were committed (n), and a check at COMMIT that refuses the first two commits: a deferred
# constraint trigger runs at COMMIT, and a sequence is not rolled back with the transaction that used it.
GATED_TABLE = """
CREATE TABLE gated (n bigint GENERATED ALWAYS AS IDENTITY, seq bigint NOT NULL);
CREATE SEQUENCE gate_checks;
CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('gate_checks') <= {refused} THEN RAISE EXCEPTION 'simulated: COMMIT refused'; END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER gate AFTER INSERT ON gated DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION gate();
"""


# Each row's transaction: which events were applied in one batch.
BATCHED_TABLE = "CREATE TABLE batched (seq bigint NOT NULL, tx bigint NOT NULL DEFAULT txid_current())"


async def create_gated_table(url: str, refused: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(GATED_TABLE.format(refused=refused).encode())  # several statements, no parameters


def seq_projection(table: str) -> Projection:
    """Writes each applied event's stream sequence into `table` (gated: refuses some; batched: records the tx)."""
    projection = Projection(table, tables=(table,))

    @projection.on_every_batch
    async def write(conn: AsyncConnection[Any], run: Sequence[tuple[Event[Any], Position]]) -> None:
        statement = sql.SQL("INSERT INTO {} (seq) SELECT unnest(%s::bigint[])").format(sql.Identifier(table))
        await conn.execute(statement, ([pos.seq for _, pos in run],))

    return projection


@dataclass(frozen=True)
class Delivery:
    acked: int  # the ack floor: every message up to this stream sequence is acknowledged
    delivered: int  # the last stream sequence delivered
    pending: int  # delivered and not acknowledged


async def delivery(nc: Client, durable: str = "projector-gated") -> Delivery | None:
    """Where the projector's consumer stands, once the projector has created it."""
    try:
        info = await nc.jetstream().consumer_info(STREAM_NAME, durable)
    except NotFoundError:
        return None
    assert info.ack_floor is not None and info.delivered is not None
    return Delivery(info.ack_floor.stream_seq or 0, info.delivered.stream_seq or 0, info.num_ack_pending or 0)


async def test_the_next_batch_is_fetched_while_one_waits_for_its_commit(nc: Client, settings: Settings) -> None:
    url = settings.database_url or ""
    await create_gated_table(url, refused=0)
    ours = settings.model_copy(update={"projector_batch_size": BATCH})
    seqs = await publish(nc, [make_event(incident_id(), minute=i) for i in range(3 * BATCH)])

    await fetch(url, "INSERT INTO projection_checkpoints (projection) VALUES ('gated') RETURNING 1")
    async with await psycopg.AsyncConnection.connect(url) as blocker:
        await blocker.execute("SELECT * FROM projection_checkpoints FOR UPDATE")  # the first batch cannot commit
        async with running_projector(ours, [seq_projection("gated")]):
            stands = await wait_until(
                lambda: delivery(nc),
                lambda d: d is not None and d.pending == 2 * BATCH,
                what="the batch being applied and the one fetched ahead delivered, neither acknowledged",
            )
            # Before its first ack, a consumer's floor is just below the first message (the stream was purged).
            assert stands == Delivery(acked=seqs[0] - 1, delivered=seqs[2 * BATCH - 1], pending=2 * BATCH)
            await blocker.rollback()
            await wait_until(lambda: checkpoints(url), lambda c: c.get("gated") == seqs[-1])


async def test_a_batch_whose_commit_fails_is_applied_before_the_batch_fetched_ahead(
    nc: Client, settings: Settings
) -> None:
    url = settings.database_url or ""
    await create_gated_table(url, REFUSED_COMMITS)
    ours = settings.model_copy(update={"projector_batch_size": BATCH})
    seqs = await publish(nc, [make_event(incident_id(), minute=i) for i in range(3 * BATCH)])
    floors_and_checkpoints: list[tuple[int, int]] = []

    async def acked_no_further_than_committed() -> int:
        """The ack floor, then the committed checkpoint: acks after COMMIT keep the first at most the second."""
        stands = await delivery(nc)
        floor = 0 if stands is None else stands.acked
        checkpoint = (await checkpoints(url)).get("gated", 0)
        floors_and_checkpoints.append((floor, checkpoint))
        return checkpoint

    async with running_projector(ours, [seq_projection("gated")]):
        await wait_until(acked_no_further_than_committed, lambda c: c == seqs[-1], what="every batch committed")

    [(checks,)] = await fetch(url, "SELECT last_value FROM gate_checks")
    assert checks == REFUSED_COMMITS + len(seqs), "the first batch's COMMIT was refused twice, then done"
    assert [seq for (seq,) in await fetch(url, "SELECT seq FROM gated ORDER BY n")] == seqs  # once, in order
    assert all(floor <= max(checkpoint, seqs[0] - 1) for floor, checkpoint in floors_and_checkpoints)
    assert await delivery(nc) == Delivery(acked=seqs[-1], delivered=seqs[-1], pending=0)


async def test_caught_up_the_next_batch_is_fetched_after_the_commit_with_all_that_came_meanwhile(
    nc: Client, settings: Settings
) -> None:
    """Fetched ahead, the first event to arrive while a batch waits for its COMMIT would come alone, in a
    transaction of its own, and the rest would wait for that one too."""
    url = settings.database_url or ""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(BATCHED_TABLE)
    ours = settings.model_copy(update={"projector_batch_size": BATCH})
    [first] = await publish(nc, [make_event(incident_id())])

    await fetch(url, "INSERT INTO projection_checkpoints (projection) VALUES ('batched') RETURNING 1")
    async with await psycopg.AsyncConnection.connect(url) as blocker:
        await blocker.execute("SELECT * FROM projection_checkpoints FOR UPDATE")  # the first batch cannot commit
        async with running_projector(ours, [seq_projection("batched")]):
            await wait_until(
                lambda: delivery(nc, "projector-batched"),
                lambda d: d is not None and d.delivered == first,
                what="the first event's batch delivered, waiting for the checkpoints' lock",
            )
            later = await publish(nc, [make_event(incident_id(), minute=i) for i in range(3)])
            await blocker.rollback()
            await wait_until(lambda: checkpoints(url), lambda c: c.get("batched") == later[-1])

    rows = await fetch(url, "SELECT seq, tx FROM batched ORDER BY seq")
    assert [seq for seq, _ in rows] == [first, *later]
    transactions = [tx for _, tx in rows]
    assert transactions[1:] == [transactions[1]] * 3, "every later event in one batch"
    assert transactions[0] != transactions[1]
