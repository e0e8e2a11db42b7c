"""Blue/green tables for a rebuild: fresh copies of a projection's tables in a schema of their own, swapped in.

The shadow schema `rebuild_<projection>` holds empty copies (`LIKE ... INCLUDING ALL`) of the projection's tables.
The run that builds it (`all`, or the projection's name) keeps one copy of the projector's bookkeeping for all its
shadows in `replay_<run>`: a checkpoint per projection, the processed event ids, the dead letters. Like the live
read models fed together, the shadows of a run are fed in one transaction a batch, with one dedupe and one
checkpoint statement for all of them. The feed's session has the run's shadow schemas first in its search path,
the run's bookkeeping next, `public` last: a read model writes and reads tables of its own only, none of them
named like another's, so the unchanged applier and handlers write the copies while the live tables keep serving.
A table the handlers only write (`Projection.write_only`: `event_log`, `actor_mentions`) is copied with its unique
indexes only, which the writes need; its other indexes (eleven on `event_log`, each an entry per row) are built
once the feed nears the stream's end (`build_indexes`): one sorted build each instead of an insert per row.
The swap, in one transaction, drops the live tables and moves the copies into `public` under the same names
(indexes renamed back to theirs), so readers that name tables plainly see the new ones at COMMIT. A read-model
table must not use `serial` columns (their sequence belongs to the live table): use identity columns.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, cast

from psycopg import AsyncConnection, sql
from psycopg.rows import tuple_row

from services.projector.checkpoints import carry_over_checkpoint, lock_projection
from services.projector.projection import Projection

BOOKKEEPING = ("projection_checkpoints", "processed_events", "dead_letters")


def shadow_schema(projection: Projection) -> str:
    return f"rebuild_{projection.name}"


def bookkeeping_schema(run: str) -> str:
    return f"replay_{run}"


@dataclass
class Shadow:
    """A projection's shadow tables, as a run builds them."""

    projection: Projection
    origin: int  # the first sequence its tables are built from
    checkpoint: int  # it has applied everything up to here


async def _rows(conn: AsyncConnection[Any], query: str | sql.Composed, *params: Any) -> list[tuple[Any, ...]]:
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query, params or None)  # None: a literal % needs no escaping
        return await cur.fetchall()


async def shadow_tags(conn: AsyncConnection[Any], projections: Sequence[Projection]) -> dict[str, tuple[int, str]]:
    """Each existing shadow's first sequence and the run that made it, by projection; kept in the schema's
    comment."""
    tags = await _rows(
        conn,
        "SELECT substr(nspname, 9), obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = ANY(%s)",
        [shadow_schema(p) for p in projections],
    )
    parsed = {}
    for name, tag in tags:
        origin, _, run = str(tag).partition(" ")
        parsed[str(name)] = (int(origin), run or str(name))
    return parsed


async def rebuilding(conn: AsyncConnection[Any]) -> set[str]:
    """The projections a replay is rebuilding (or an interrupted one left to resume)."""
    rows = await _rows(conn, "SELECT substr(nspname, 9) FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%'")
    return {str(row[0]) for row in rows}


async def _run_checkpoints(conn: AsyncConnection[Any], run: str) -> dict[str, int]:
    """The checkpoint of each shadow in the run's bookkeeping (none when it has none)."""
    books = bookkeeping_schema(run)
    if (await _rows(conn, "SELECT to_regnamespace(%s)", books))[0][0] is None:
        return {}
    query = sql.SQL("SELECT projection, last_seq FROM {}.projection_checkpoints").format(sql.Identifier(books))
    rows = await _rows(conn, query)
    return {str(name): int(seq) for name, seq in rows}


async def resumable_shadows(
    conn: AsyncConnection[Any], run: str, projections: Sequence[Projection], origin: int | None
) -> list[Shadow]:
    """The shadows of these projections that an interrupted run of this name (from `origin`, or from anywhere when
    None) left, as they are: the projections without one were swapped in already. Changes nothing."""
    tags = await shadow_tags(conn, projections)
    checkpoints = await _run_checkpoints(conn, run)
    return [
        Shadow(p, tags[p.name][0], checkpoints[p.name])
        for p in projections
        if p.name in checkpoints and p.name in tags and tags[p.name][1] == run and origin in (None, tags[p.name][0])
    ]


async def open_shadows(
    conn: AsyncConnection[Any],
    run: str,
    projections: Sequence[Projection],
    origin: int | None,
    left: Sequence[Shadow] | None = None,
) -> list[Shadow]:
    """The run's shadows of these projections: the `resumable_shadows` (`left`, when the caller read them already),
    or when there are none, fresh shadows of them all, created in one transaction, with their checkpoints at
    `origin` - 1. `conn` is autocommit; its session's search path is pointed at the shadows, then the run's
    bookkeeping (see the module's docstring)."""
    shadows = list(left) if left is not None else await resumable_shadows(conn, run, projections, origin)
    if not shadows:
        shadows = await _create(conn, run, projections, origin or 1, await shadow_tags(conn, projections))
    schemas = [shadow_schema(shadow.projection) for shadow in shadows] + [bookkeeping_schema(run), "public"]
    path = ", ".join(f'"{schema}"' for schema in schemas)
    await conn.execute("SELECT set_config('search_path', %s, false)", (path,))
    return shadows


async def _create(
    conn: AsyncConnection[Any],
    run: str,
    projections: Sequence[Projection],
    origin: int,
    tags: dict[str, tuple[int, str]],
) -> list[Shadow]:
    """Fresh shadows and bookkeeping for the run, in one transaction and one round trip (a pipeline), in place of
    whatever shadows of these projections there were."""
    books = sql.Identifier(bookkeeping_schema(run))
    grants = await _grants(conn, [table for p in projections for table in p.tables])
    async with conn.transaction():
        for projection in projections:  # another run's shadow: its bookkeeping forgets it
            if projection.name in tags and tags[projection.name][1] != run:
                await _forget(conn, tags[projection.name][1], projection)
        async with conn.pipeline():
            await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(books))
            await conn.execute(sql.SQL("CREATE SCHEMA {}").format(books))
            for table in BOOKKEEPING:
                await conn.execute(
                    sql.SQL("CREATE TABLE {}.{} (LIKE public.{} INCLUDING ALL)").format(
                        books, sql.Identifier(table), sql.Identifier(table)
                    )
                )
            for projection in projections:
                schema = sql.Identifier(shadow_schema(projection))
                await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
                await conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
                await conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(schema, sql.Literal(f"{origin} {run}")))
                for table in projection.tables:
                    await conn.execute(
                        sql.SQL("CREATE TABLE {}.{} (LIKE public.{} INCLUDING ALL)").format(
                            schema, sql.Identifier(table), sql.Identifier(table)
                        )
                    )
                    # LIKE copies no privileges: the copy gets the live table's grants, or the services'
                    # least-privilege roles (crisis_writer, crisis_reader) would lose the table at the swap.
                    for grantee, privilege in grants.get(table, ()):
                        await conn.execute(
                            sql.SQL("GRANT {} ON {}.{} TO {}").format(
                                sql.SQL(privilege), schema, sql.Identifier(table), sql.Identifier(grantee)
                            )
                        )
            await conn.execute(
                sql.SQL(
                    "INSERT INTO {}.projection_checkpoints (projection, last_seq) SELECT unnest(%s::text[]), %s"
                ).format(books),
                ([p.name for p in projections], origin - 1),
            )
        for projection in projections:
            for table in projection.write_only:
                await _drop_indexes_but_unique(conn, shadow_schema(projection), table)
    return [Shadow(p, origin, origin - 1) for p in projections]


async def _drop_indexes_but_unique(conn: AsyncConnection[Any], schema: str, table: str) -> None:
    rows = await _rows(
        conn,
        """SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid = to_regclass(format('%%I.%%I', %s::text, %s::text)) AND NOT i.indisunique""",
        schema,
        table,
    )
    for (index,) in rows:
        await conn.execute(sql.SQL("DROP INDEX {}.{}").format(sql.Identifier(schema), sql.Identifier(str(index))))


async def build_indexes(
    conns: Sequence[AsyncConnection[Any]], shadows: Sequence[Shadow], on_build: Callable[[str], None] | None = None
) -> None:
    """Give the shadows' write-only tables every index of their live twins they lack, under the live names (see
    the module's docstring); a resumed run builds only what the interrupted one had not. The builds are shared out
    among `conns`, each building one at a time: a backend builds an index on one core. `on_build` is told each
    ("table.index") as its build starts."""
    builds: deque[tuple[str, sql.Composed]] = deque()
    for shadow in shadows:
        schema = shadow_schema(shadow.projection)
        for table in shadow.projection.write_only:
            missing = await _rows(
                conns[0],
                _INDEX_SHAPES
                + """SELECT l.index_name, l.shape FROM shapes l WHERE l.nspname = 'public'
                     AND NOT EXISTS (SELECT 1 FROM shapes s WHERE s.nspname = %s AND s.shape = l.shape)""",
                schema,
                [table],
                schema,
            )
            for name, shape in missing:
                # The shape is PostgreSQL's own definition of the live index, its name and table taken out.
                create, _, rest = cast(LiteralString, shape).partition(" ON ")
                statement = sql.SQL("{} {} ON {}.{} {}").format(
                    sql.SQL(create), sql.Identifier(str(name)), sql.Identifier(schema), sql.Identifier(table),
                    sql.SQL(rest),
                )  # fmt: skip
                builds.append((f"{table}.{name}", statement))

    async def build_on(conn: AsyncConnection[Any]) -> None:
        while builds:
            label, statement = builds.popleft()
            if on_build is not None:
                on_build(label)
            await conn.execute(statement)

    workers = [asyncio.create_task(build_on(conn)) for conn in conns]
    try:
        await asyncio.gather(*workers)
    finally:  # when one fails, the others stop before their connections close
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def _grants(conn: AsyncConnection[Any], tables: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Who may do what on each of these live tables (but their owner), in one query."""
    rows = await _rows(
        conn,
        """SELECT c.relname, pg_get_userbyid(a.grantee), a.privilege_type
           FROM pg_class c, aclexplode(c.relacl) a
           WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(%s)
             AND a.grantee NOT IN (0, c.relowner)""",
        list(tables),
    )
    grants: dict[str, list[tuple[str, str]]] = {}
    for table, grantee, privilege in rows:
        grants.setdefault(str(table), []).append((str(grantee), str(privilege)))
    return grants


async def _forget(conn: AsyncConnection[Any], run: str, projection: Projection) -> None:
    """Drop the projection's shadow and its rows in the run's bookkeeping; the bookkeeping too once it keeps no
    other shadow's."""
    await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(shadow_schema(projection))))
    books = sql.Identifier(bookkeeping_schema(run))
    if (await _rows(conn, "SELECT to_regnamespace(%s)", bookkeeping_schema(run)))[0][0] is None:
        return
    for table in ("projection_checkpoints", "dead_letters"):
        await conn.execute(
            sql.SQL("DELETE FROM {}.{} WHERE projection = %s").format(books, sql.Identifier(table)), (projection.name,)
        )
    if not await _rows(conn, sql.SQL("SELECT 1 FROM {}.projection_checkpoints LIMIT 1").format(books)):
        await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(books))


async def lock_live_checkpoint(conn: AsyncConnection[Any], projection: Projection) -> int:
    """Hold the live checkpoints' row locks (of every partition) until COMMIT: the live appliers wait, so nothing
    moves under the swap. Returns the highest: the rebuild must reach it before it takes every partition's place."""
    return await lock_projection(conn, projection.name, schema="public")


# A live read model's writes NOTIFY at COMMIT (migration 0014); a shadow's are made without it, no reader's.
ANNOUNCE_CHANGES = (
    "CREATE TRIGGER announce_read_models_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.{} "
    "FOR EACH STATEMENT EXECUTE FUNCTION announce_read_models_changed()"
)


async def swap_in(conn: AsyncConnection[Any], run: str, shadow: Shadow) -> None:
    """Inside the caller's transaction: replace the live tables with the shadow's, carry over its checkpoint and
    dead letters. Pipelined: a few round trips, not one a statement, while the live appliers wait."""
    projection = shadow.projection
    schema = sql.Identifier(shadow_schema(projection))
    books = sql.Identifier(bookkeeping_schema(run))
    renames = await _index_renames(conn, projection)
    async with conn.pipeline():
        for table in projection.tables:
            await conn.execute(sql.SQL("DROP TABLE public.{}").format(sql.Identifier(table)))
            await conn.execute(sql.SQL("ALTER TABLE {}.{} SET SCHEMA public").format(schema, sql.Identifier(table)))
            await conn.execute(sql.SQL(ANNOUNCE_CHANGES).format(sql.Identifier(table)))
        for shadow_name, live_name in renames:
            await conn.execute(
                sql.SQL("ALTER INDEX public.{} RENAME TO {}").format(
                    sql.Identifier(shadow_name), sql.Identifier(live_name)
                )
            )
        # The processed event ids stay: the live record is shared by every read model, the run's was its own.
        params = {"p": projection.name}
        # Dead letters: those the rebuild no longer hits are gone; decisions on the others are kept.
        await conn.execute(
            sql.SQL(
                """DELETE FROM public.dead_letters d WHERE d.projection = %(p)s AND d.status = 'open'
                   AND NOT EXISTS (SELECT 1 FROM {}.dead_letters s
                                   WHERE s.projection = %(p)s AND s.stream_seq = d.stream_seq)"""
            ).format(books),
            params,
        )
        await conn.execute(
            sql.SQL(
                """INSERT INTO public.dead_letters (projection, stream_seq, subject, headers, payload, error)
                   SELECT projection, stream_seq, subject, headers, payload, error FROM {}.dead_letters
                   WHERE projection = %(p)s ON CONFLICT (projection, stream_seq) DO NOTHING"""
            ).format(books),
            params,
        )
        await carry_over_checkpoint(conn, projection.name, shadow.checkpoint)
        await _forget(conn, run, projection)


async def _index_renames(conn: AsyncConnection[Any], projection: Projection) -> list[tuple[str, str]]:
    """(shadow's name, live name) of each index of the shadow's tables whose live twin, of the same shape (its
    definition without name and table), has another name: the live name goes on with the swapped-in table."""
    rows = await _rows(
        conn,
        _INDEX_SHAPES
        + """SELECT s.index_name, l.index_name FROM shapes s JOIN shapes l USING (table_name, shape)
             WHERE s.nspname = %s AND l.nspname = 'public' AND s.index_name <> l.index_name""",
        shadow_schema(projection),
        list(projection.tables),
        shadow_schema(projection),
    )
    return [(str(shadow_name), str(live_name)) for shadow_name, live_name in rows]


# The indexes of some tables (params: a shadow schema, the table names) in `public` and that schema, each with
# its shape: its definition without its name and table ("CREATE INDEX ON USING btree (incident_id)").
_INDEX_SHAPES = """
    WITH shapes AS (
        SELECT n.nspname, t.relname AS table_name, c.relname AS index_name,
               regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \\S+ ON \\S+', 'INDEX ON') AS shape
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname IN ('public', %s) AND t.relname = ANY(%s))
"""
