"""Blue/green tables for a rebuild: fresh copies of a projection's tables in a schema of their own, swapped in.

The shadow schema `rebuild_<projection>` holds empty copies (`LIKE ... INCLUDING ALL`) of the projection's tables
and of the projector's bookkeeping (checkpoints, processed event ids, dead letters). A connection whose search
path puts that schema first runs the unchanged applier and handlers against the copies, while the live tables
keep serving. The swap, in one transaction, drops the live tables and moves the copies into `public` under the
same names (indexes renamed back to theirs), so readers that name tables plainly see the new ones at COMMIT.
A read-model table must not use `serial` columns (their sequence belongs to the live table): use identity columns.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import tuple_row

from services.projector.checkpoints import carry_over_checkpoint, lock_projection
from services.projector.projection import Projection

BOOKKEEPING = ("projection_checkpoints", "processed_events", "dead_letters")


def shadow_schema(projection: Projection) -> str:
    return f"rebuild_{projection.name}"


async def _scalar(conn: AsyncConnection[Any], query: str | sql.Composed, *params: Any) -> Any:
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        row = await cur.fetchone()
    return None if row is None else row[0]


async def shadow_tag(conn: AsyncConnection[Any], projection: Projection) -> tuple[int, str] | None:
    """An existing shadow's first sequence and the run that made it (a projection's name, or `all`); None when
    there is no shadow. Both are kept in the schema's comment."""
    tag = await _scalar(
        conn,
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
        shadow_schema(projection),
    )
    if tag is None:
        return None
    origin, _, run = str(tag).partition(" ")
    return int(origin), run or projection.name


async def rebuilding(conn: AsyncConnection[Any]) -> set[str]:
    """The projections a replay is rebuilding (or an interrupted one left to resume)."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute("SELECT substr(nspname, 9) FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%'")
        return {str(row[0]) for row in await cur.fetchall()}


async def open_shadow(
    conn: AsyncConnection[Any], projection: Projection, origin: int | None, run: str | None = None
) -> tuple[int, int]:
    """Create the shadow (or keep the one an interrupted rebuild left, if it started from the same sequence) and
    point this session's search path at it. Returns (origin, the shadow's checkpoint). `conn` is autocommit.
    `run` tags the shadow with the run it belongs to (a new shadow's default: the projection's name)."""
    schema = sql.Identifier(shadow_schema(projection))
    tag = await shadow_tag(conn, projection)
    existing = None if tag is None else tag[0]
    if existing is not None and origin not in (None, existing):
        await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))
        existing = None
    if existing is None:
        existing = origin or 1
        run = run or projection.name
        async with conn.transaction():
            await conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            for table in (*projection.tables, *BOOKKEEPING):
                await conn.execute(
                    sql.SQL("CREATE TABLE {}.{} (LIKE public.{} INCLUDING ALL)").format(
                        schema, sql.Identifier(table), sql.Identifier(table)
                    )
                )
                await _copy_grants(conn, schema, table)
            await conn.execute(
                sql.SQL("INSERT INTO {}.projection_checkpoints (projection, last_seq) VALUES (%s, %s)").format(schema),
                (projection.name, existing - 1),
            )
    if run is not None:
        await conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(schema, sql.Literal(f"{existing} {run}")))
    await conn.execute("SELECT set_config('search_path', %s, false)", (f"{shadow_schema(projection)}, public",))
    checkpoint = await _scalar(
        conn, "SELECT last_seq FROM projection_checkpoints WHERE projection = %s", projection.name
    )
    return existing, int(checkpoint)


async def lock_live_checkpoint(conn: AsyncConnection[Any], projection: Projection) -> int:
    """Hold the live checkpoints' row locks (of every partition) until COMMIT: the live appliers wait, so nothing
    moves under the swap. Returns the highest: the rebuild must reach it before it takes every partition's place."""
    return await lock_projection(conn, projection.name, schema="public")


async def swap_in(conn: AsyncConnection[Any], projection: Projection, checkpoint: int) -> None:
    """Inside the caller's transaction: replace the live tables with the shadow's, carry over its checkpoint and
    dead letters."""
    schema = sql.Identifier(shadow_schema(projection))
    for table in projection.tables:
        names = await _index_names(conn, "public", table)
        await conn.execute(sql.SQL("DROP TABLE public.{}").format(sql.Identifier(table)))
        await conn.execute(sql.SQL("ALTER TABLE {}.{} SET SCHEMA public").format(schema, sql.Identifier(table)))
        for shape, new_name in (await _index_names(conn, "public", table)).items():
            old_name = names.get(shape)
            if old_name is not None and old_name != new_name:
                await conn.execute(
                    sql.SQL("ALTER INDEX public.{} RENAME TO {}").format(
                        sql.Identifier(new_name), sql.Identifier(old_name)
                    )
                )
    # The processed event ids stay: the live record is shared by every read model, the shadow's was its own.
    params = {"p": projection.name}
    # Dead letters: those the rebuild no longer hits are gone; decisions on the others are kept.
    await conn.execute(
        sql.SQL(
            """DELETE FROM public.dead_letters d WHERE d.projection = %(p)s AND d.status = 'open'
               AND NOT EXISTS (SELECT 1 FROM {}.dead_letters s WHERE s.stream_seq = d.stream_seq)"""
        ).format(schema),
        params,
    )
    await conn.execute(
        sql.SQL(
            """INSERT INTO public.dead_letters (projection, stream_seq, subject, headers, payload, error)
               SELECT projection, stream_seq, subject, headers, payload, error FROM {}.dead_letters
               ON CONFLICT (projection, stream_seq) DO NOTHING"""
        ).format(schema)
    )
    await carry_over_checkpoint(conn, projection.name, checkpoint)
    await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))


async def _copy_grants(conn: AsyncConnection[Any], schema: sql.Identifier, table: str) -> None:
    """LIKE copies no privileges: the copy gets the live table's grants, or the services' least-privilege roles
    (crisis_writer, crisis_reader) would lose the table at the swap."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            """SELECT pg_get_userbyid(a.grantee), a.privilege_type
               FROM pg_class c, aclexplode(c.relacl) a
               WHERE c.oid = format('public.%%I', %s::text)::regclass AND a.grantee NOT IN (0, c.relowner)""",
            (table,),
        )
        grants = await cur.fetchall()
    for grantee, privilege in grants:
        await conn.execute(
            sql.SQL("GRANT {} ON {}.{} TO {}").format(
                sql.SQL(privilege), schema, sql.Identifier(table), sql.Identifier(grantee)
            )
        )


async def _index_names(conn: AsyncConnection[Any], schema: str, table: str) -> dict[str, str]:
    """Each index of the table by its shape (its definition without name and table), to its name."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            """SELECT regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \\S+ ON \\S+', 'INDEX ON'), c.relname
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid = format('%%I.%%I', %s::text, %s::text)::regclass""",
            (schema, table),
        )
        return {shape: name for shape, name in await cur.fetchall()}
