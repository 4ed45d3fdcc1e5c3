"""Investigations in PostgreSQL: created pending, run, and finished completed, failed or
cancelled, with progress and every transition recorded. Only the owner sees one."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import asdict
from datetime import date
from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from cidadao_gql.agents import AGENTS, Finding, Target
from cidadao_gql.data.db import Connection, Database, Record
from cidadao_gql.data.statement import Sql
from cidadao_gql.errors import InvalidTarget, NotCancellable, NotFound


def target_json(target: Target) -> dict[str, Any]:
    data = asdict(target)
    for key in ("signed_from", "signed_to"):
        data[key] = None if data[key] is None else data[key].isoformat()
    data["agency_ids"], data["supplier_ids"] = list(target.agency_ids), list(target.supplier_ids)
    return data


def target_from_json(data: dict[str, Any]) -> Target:
    return Target(
        agency_ids=tuple(data.get("agency_ids") or ()),
        supplier_ids=tuple(data.get("supplier_ids") or ()),
        signed_from=date.fromisoformat(data["signed_from"]) if data.get("signed_from") else None,
        signed_to=date.fromisoformat(data["signed_to"]) if data.get("signed_to") else None,
    )


async def validate(db: Database, target: Target) -> int:
    """The number of contracts in the target; InvalidTarget when it names what does not
    exist or holds nothing."""
    if target.signed_from and target.signed_to and target.signed_from > target.signed_to:
        raise InvalidTarget("the period ends before it starts", signedFrom=str(target.signed_from))
    for table, ids, field in (
        ("agencies", target.agency_ids, "agencyIds"),
        ("suppliers", target.supplier_ids, "supplierIds"),
    ):
        found = {
            r["id"]
            for r in await db.fetch(
                f"SELECT id FROM {table} WHERE id = any($1::bigint[])", list(ids)
            )
        }
        unknown = sorted(set(ids) - found)
        if unknown:
            raise InvalidTarget(
                f"unknown {table}: {', '.join(map(str, unknown))}", **{field: unknown}
            )
    sql = Sql()
    count: int = await db.fetchval(
        f"SELECT count(*) FROM contracts t WHERE {target.contracts(sql)}", *sql.args
    )
    if count == 0 and not await _has_awards(db, target):
        raise InvalidTarget(
            "the target holds no contracts or awards (check the period and the ids)",
            contracts=0,
        )
    return count


async def _has_awards(db: Database, target: Target) -> bool:
    """Whether the target holds an award: agencies whose data are procurements and their
    results (the PNCP sample's, for one) have no contracts, but price_outlier reads awards."""
    sql = Sql()
    where = target.contracts(sql, "x", day="awarded_on")
    found: bool = await db.fetchval(
        f"""SELECT EXISTS (
              SELECT FROM (SELECT a.supplier_id, a.awarded_on, p.agency_id
                             FROM awards a JOIN items i ON i.id = a.item_id
                             JOIN procurements p ON p.id = i.procurement_id) x
               WHERE {where})""",
        *sql.args,
    )
    return found


Conn: TypeAlias = "asyncpg.Connection | PoolConnectionProxy[Any] | Database"


async def record(conn: Conn, investigation: uuid.UUID, kind: str, **payload: Any) -> None:
    await conn.execute(
        "INSERT INTO investigation_events (investigation_id, kind, payload) VALUES ($1, $2, $3)",
        investigation,
        kind,
        payload,
    )


async def create(db: Database, user_id: str, target: Target, agents: list[str]) -> Record:
    investigation = uuid.uuid4()

    async def insert(conn: Connection) -> Record:
        row = await conn.fetchrow(
            """INSERT INTO investigations (id, user_id, status, target, agents)
               VALUES ($1, $2, 'pending', $3, $4) ON CONFLICT (id) DO NOTHING RETURNING *""",
            investigation,
            user_id,
            target_json(target),
            agents,
        )
        if row is None:  # an earlier try committed, then lost its connection (Database.write)
            row = await conn.fetchrow("SELECT * FROM investigations WHERE id = $1", investigation)
        else:
            # No agents named means all of them: the event says which ran, as the mutation does.
            ran = agents or sorted(agent.name for agent in AGENTS)
            await record(conn, investigation, "created", agents=ran)
        assert row is not None
        found: Record = row
        return found

    return await db.write(insert)


async def get(db: Database, investigation: uuid.UUID, user_id: str) -> Record:
    row = await db.fetchrow_primary(
        "SELECT * FROM investigations WHERE id = $1 AND user_id = $2", investigation, user_id
    )
    if row is None:  # another user's looks exactly like a missing one
        raise NotFound(f"no investigation {investigation}", id=str(investigation))
    return row


async def list_for(db: Database, user_id: str, first: int) -> list[Record]:
    return await db.fetch_primary(
        "SELECT * FROM investigations WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2",
        user_id,
        first,
    )


async def cancel(db: Database, investigation: uuid.UUID, user_id: str) -> Record:
    await get(db, investigation, user_id)

    async def update(conn: Connection) -> Record:
        row = await conn.fetchrow(
            """UPDATE investigations SET status = 'cancelled', finished_at = now()
                WHERE id = $1 AND status IN ('pending', 'running') RETURNING *""",
            investigation,
        )
        if row is None:
            raise NotCancellable("the investigation has already finished", id=str(investigation))
        await record(conn, investigation, "finished", status="cancelled")
        cancelled: Record = row
        return cancelled

    return await db.write(update)


# The claim: a worker may run an investigation that is pending, or running under a lease
# its holder stopped renewing (it died) for `lease` seconds. Any number of deliveries of
# one job (a redelivery, a sweep, a duplicate) therefore start it once at a time.
_CLAIMABLE = """status = 'pending' OR status = 'running'
                AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $2))"""


async def start(db: Database, investigation: uuid.UUID, lease: float = 30.0) -> Record | None:
    """Claim it and mark it running (again, after its holder died); None when it is
    finished, cancelled, or held by a live worker."""

    async def claim(conn: Connection) -> Record | None:
        row = await conn.fetchrow(
            f"""UPDATE investigations SET status = 'running', attempts = attempts + 1,
                       started_at = coalesce(started_at, now()), heartbeat_at = now()
                 WHERE id = $1 AND ({_CLAIMABLE}) RETURNING *""",
            investigation,
            lease,
        )
        if row is not None:
            await record(conn, investigation, "started", attempt=row["attempts"])
        return row

    return await db.write(claim)


async def beat(db: Database, investigation: uuid.UUID) -> None:
    """Renew the lease of a running investigation: its holder is alive."""
    await db.execute(
        "UPDATE investigations SET heartbeat_at = now() WHERE id = $1 AND status = 'running'",
        investigation,
    )


async def unclaimed(
    db: Database, lease: float, settle: float, carried: Collection[uuid.UUID], limit: int
) -> list[uuid.UUID]:
    """Oldest first, at most `limit` unfinished investigations that nothing carries: not in
    `carried` (the queue's), and claimable (pending for over `settle` seconds, which leaves
    the API the moment between storing one and queueing it, or under a dead lease)."""
    rows = await db.fetch_primary(
        f"""SELECT id FROM investigations
             WHERE status IN ('pending', 'running') AND ({_CLAIMABLE})
               AND (status = 'running' OR created_at < now() - make_interval(secs => $3))
               AND id <> ALL($4::uuid[])
             ORDER BY created_at LIMIT $1""",
        limit,
        lease,
        settle,
        list(carried),
    )
    return [r["id"] for r in rows]


# A write of the worker running attempt $n: only while that claim is the live one. A worker
# that lost the database for longer than its lease may find another has claimed it since.
_HOLDING = "($3::int IS NULL OR attempts = $3)"


async def progress(
    db: Database, investigation: uuid.UUID, fraction: float, agent: str, attempt: int | None = None
) -> bool:
    """Record progress (which renews the lease too); False when the investigation was
    cancelled meanwhile, or `attempt` is no longer the live claim."""

    async def update(conn: Connection) -> bool:
        status = await conn.fetchval(
            f"""UPDATE investigations SET progress = $2, heartbeat_at = now()
                 WHERE id = $1 AND status = 'running' AND {_HOLDING} RETURNING status""",
            investigation,
            fraction,
            attempt,
        )
        if status is not None:
            await record(conn, investigation, "progress", progress=round(fraction, 4), agent=agent)
        return status is not None

    return await db.write(update)


async def complete(
    db: Database,
    investigation: uuid.UUID,
    findings: list[Finding],
    summary: str,
    attempt: int | None = None,
) -> bool:
    """Store the findings and finish, in one transaction; findings of an earlier attempt are
    replaced, so a job run twice leaves one set. False when it was cancelled meanwhile, or
    `attempt` is no longer the live claim."""

    async def finish(conn: Connection) -> bool:
        row = await conn.fetchrow(
            "SELECT status, attempts FROM investigations WHERE id = $1 FOR UPDATE", investigation
        )
        if row is None or row["status"] != "running":
            return False
        if attempt is not None and row["attempts"] != attempt:
            return False
        await conn.execute("DELETE FROM findings WHERE investigation_id = $1", investigation)
        await conn.executemany(
            """INSERT INTO findings (investigation_id, agent, kind, severity, score, evidence, summary,
                                     contract_ids, supplier_ids, agency_ids, award_ids)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
            [
                (investigation, f.agent, f.kind, f.severity, f.score, orjson.loads(orjson.dumps(f.evidence, default=str)),
                 f.summary, list(f.contract_ids), list(f.supplier_ids), list(f.agency_ids), list(f.award_ids))
                for f in findings
            ],
        )  # fmt: skip
        await conn.execute(
            """UPDATE investigations SET status = 'completed', progress = 1, summary = $2,
                      finished_at = now() WHERE id = $1""",
            investigation,
            summary,
        )
        await record(conn, investigation, "finished", status="completed", findings=len(findings))
        return True

    return await db.write(finish)


async def fail(
    db: Database, investigation: uuid.UUID, reason: str, attempt: int | None = None
) -> None:
    async def update(conn: Connection) -> None:
        updated = await conn.fetchval(
            f"""UPDATE investigations SET status = 'failed', error = $2, finished_at = now()
                 WHERE id = $1 AND status IN ('pending', 'running') AND {_HOLDING}
             RETURNING id""",
            investigation,
            reason,
            attempt,
        )
        if updated is not None:
            await record(conn, investigation, "finished", status="failed", error=reason)

    await db.write(update)


async def queue_state(db: Database) -> tuple[int, float]:
    """Investigations pending, and the age in seconds of the oldest (0 when none waits)."""
    row = await db.primary.fetchrow(
        """SELECT count(*) AS pending,
                  coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest
             FROM investigations WHERE status = 'pending'"""
    )
    assert row is not None
    return row["pending"], row["oldest"]


async def findings_of(
    db: Database, investigation: uuid.UUID, first: int | None = None
) -> list[Record]:
    """The strongest `first` findings (all of them with None: LIMIT NULL is no limit)."""
    return await db.fetch_primary(
        "SELECT * FROM findings WHERE investigation_id = $1 ORDER BY score DESC, id LIMIT $2",
        investigation,
        first,
    )


async def findings_page(
    db: Database, investigation: uuid.UUID, first: int, after: tuple[float, int] | None,
    backward: bool = False,
) -> list[Record]:  # fmt: skip
    """`first` + 1 findings in the order of findings_of, after the (score, id) of `after`:
    the extra row says whether more follow (`backward`: before it, nearest first). An
    investigation has a few thousand findings at most (1,813 for the busiest agency of
    1,000,000 contracts), read whole by its index."""
    if after is None and not backward:
        return await findings_of(db, investigation, first + 1)
    order = "score ASC, id DESC" if backward else "score DESC, id"  # backwards: reversed
    position, args = "", [investigation, first + 1]
    if after is not None:
        score, key = (">", "<") if backward else ("<", ">")
        position = f"AND (score {score} $3 OR (score = $3 AND id {key} $4))"
        args += after
    return await db.fetch_primary(
        f"SELECT * FROM findings WHERE investigation_id = $1 {position} ORDER BY {order} LIMIT $2",
        *args,
    )


async def findings_count(db: Database, investigation: uuid.UUID) -> int:
    count: int = await db.fetchval_primary(
        "SELECT count(*) FROM findings WHERE investigation_id = $1", investigation
    )
    return count


async def events_of(db: Database, investigation: uuid.UUID) -> list[Record]:
    return await db.fetch_primary(
        "SELECT kind, payload FROM investigation_events WHERE investigation_id = $1 ORDER BY id",
        investigation,
    )
