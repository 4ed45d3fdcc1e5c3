"""Investigations: start one over a target, follow it, read its findings. Only the user who
started one sees it; anonymous users cannot start any."""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections.abc import AsyncGenerator
from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from cidadao_gql.agents import AGENTS, Target
from cidadao_gql.data.apikeys import User
from cidadao_gql.data.db import Record
from cidadao_gql.data.sql import Ordering
from cidadao_gql.errors import (
    BadUserInput,
    CidadaoError,
    Forbidden,
    InvalidId,
    ServiceBusy,
    Unauthenticated,
)
from cidadao_gql.investigations.queue import Event
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import Contract
from cidadao_gql.schema.relay import (
    DEFAULT_PAGE,
    Connection,
    check_page_size,
    decode_id,
    encode_id,
    existing,
    page_request,
    to_connection,
)

AGENT_NAMES = sorted(agent.name for agent in AGENTS)


def _score(text: str) -> float:
    # A cursor's score as str() wrote it; decode_cursor refuses any other spelling.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a score is a finite number")
    return value


# Findings' one order (store.findings_of): strongest first, then as the agents found them.
FINDINGS_ORDER = Ordering("SCORE_DESC", "score", True, _score)


@strawberry.enum
class InvestigationStatus(Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@strawberry.input(description="What to analyse; every field narrows it, none means everything.")
class InvestigationTarget:
    agencies: list[strawberry.ID] | None = None
    suppliers: list[strawberry.ID] | None = None
    signed_from: date | None = None
    signed_to: date | None = None

    def to_target(self) -> Target:
        return Target(
            agency_ids=tuple(decode_id(i, "Agency")[1] for i in self.agencies or ()),
            supplier_ids=tuple(decode_id(i, "Supplier")[1] for i in self.suppliers or ()),
            signed_from=self.signed_from,
            signed_to=self.signed_to,
        )


@strawberry.type(description="Something an agent found, with the numbers that triggered it.")
class InvestigationFinding:
    agent: str
    kind: str
    severity: str
    score: float
    summary: str
    evidence: JSON
    contract_ids: strawberry.Private[list[int]]
    supplier_ids: list[strawberry.ID]
    agency_ids: list[strawberry.ID]
    award_ids: list[strawberry.ID]

    @classmethod
    def from_row(cls, row: Record) -> InvestigationFinding:
        return cls(
            agent=row["agent"],
            kind=row["kind"],
            severity=row["severity"],
            score=row["score"],
            summary=row["summary"],
            evidence=row["evidence"],
            contract_ids=list(row["contract_ids"]),
            supplier_ids=[encode_id("Supplier", i) for i in row["supplier_ids"]],
            agency_ids=[encode_id("Agency", i) for i in row["agency_ids"]],
            award_ids=[encode_id("Award", i) for i in row["award_ids"]],
        )

    @strawberry.field(description="The contracts this finding concerns, the first `first`.")
    async def contracts(self, info: Info, first: int = DEFAULT_PAGE) -> list[Contract]:
        check_page_size(first)  # the size the cost analysis priced
        rows = await asyncio.gather(
            *(info.context.loaders.contract.load(i) for i in self.contract_ids[:first])
        )
        return [Contract.from_row(existing(r)) for r in rows]


@strawberry.type(description="An analysis a user started; only they can see it.")
class Investigation:
    id: strawberry.ID
    status: InvestigationStatus
    progress: float = strawberry.field(description="From 0 to 1.")
    agents: list[str]
    target: JSON
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = strawberry.field(description="Why it failed, when it did.")
    summary: str | None = strawberry.field(description="The written report, once completed.")

    @classmethod
    def from_row(cls, row: Record) -> Investigation:
        return cls(
            id=strawberry.ID(str(row["id"])),
            status=InvestigationStatus(row["status"]),
            progress=row["progress"],
            agents=list(row["agents"]) or AGENT_NAMES,
            target=row["target"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            error=row["error"],
            summary=row["summary"],
        )

    @strawberry.field(description="Findings, strongest first (none until completed).")
    async def findings(
        self, info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Connection[InvestigationFinding]:  # fmt: skip
        page = page_request(first, after, FINDINGS_ORDER, None, last, before)
        investigation, investigations = uuid.UUID(self.id), info.context.investigations
        rows = await investigations.findings_page(
            investigation, page.first, page.after, page.backward
        )
        return to_connection(
            rows, page, InvestigationFinding.from_row,
            lambda: investigations.findings_count(investigation),
        )  # fmt: skip


def _user(info: Info, scope: str) -> User:
    user = info.context.user
    if user is None:
        raise Unauthenticated("investigations need an API key (Authorization: Bearer <key>)")
    if scope not in user.scopes and "admin" not in user.scopes:
        raise Forbidden(f"this key lacks the `{scope}` scope", scope=scope)
    return user


# Stream ids as Redis writes them (`1700000000000-0`) or the in-process queue does (`12`):
# ASCII digits (\d would take any script's), each part within Redis' 64 bits.
_EVENT_ID = re.compile(r"(0|[1-9][0-9]{0,19})(?:-(0|[1-9][0-9]{0,19}))?")


def _event_id(value: str) -> str:
    """An event id as the stream gives them (`1700000000000-0`, or `12` in process)."""
    found = _EVENT_ID.fullmatch(value)
    if found is None or any(int(part) >= 2**64 for part in found.groups() if part):
        raise BadUserInput(
            f"{value!r} is not an event id; pass the `id` of an event received", after=value
        )
    return value


def _uuid(value: str) -> uuid.UUID:
    """An investigation's id as we give them (uuid.UUID takes braces, `urn:uuid:` and
    upper case too)."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != value:
        raise InvalidId(f"{value!r} is not an investigation id", id=value)
    return parsed


@strawberry.type
class InvestigationQueries:
    @strawberry.field(description="One of your investigations.")
    async def investigation(self, info: Info, id: strawberry.ID) -> Investigation:
        row = await info.context.investigations.get(_uuid(id), _user(info, "read").id)
        return Investigation.from_row(row)

    @strawberry.field(description="Your investigations, newest first.")
    async def investigations(self, info: Info, first: int = 20) -> list[Investigation]:
        check_page_size(first)
        rows = await info.context.investigations.list_for(_user(info, "read").id, first)
        return [Investigation.from_row(r) for r in rows]


@strawberry.type
class InvestigationMutations:
    @strawberry.mutation(description="Start an investigation; it runs in the background.")
    async def start_investigation(
        self, info: Info, target: InvestigationTarget, agents: list[str] | None = None
    ) -> Investigation:
        user = _user(info, "investigate")
        unknown = sorted(set(agents or ()) - set(AGENT_NAMES))
        if unknown:
            raise BadUserInput(
                f"unknown agents: {', '.join(unknown)}", agents=unknown, known=AGENT_NAMES
            )
        wanted = target.to_target()
        await info.context.investigations.validate(wanted)
        row = await info.context.investigations.create(user.id, wanted, sorted(set(agents or ())))
        jobs = info.context.jobs
        if jobs is not None:
            await jobs.announce(row["id"], "created", agents=list(row["agents"]) or AGENT_NAMES)
            try:
                await jobs.submit(row["id"])
            except asyncio.QueueFull:
                await info.context.investigations.fail(row["id"], "the agent pool's queue was full")
                raise ServiceBusy(
                    "too many investigations are waiting; try again shortly"
                ) from None
        return Investigation.from_row(row)

    @strawberry.mutation(description="Cancel one of your investigations that has not finished.")
    async def cancel_investigation(self, info: Info, id: strawberry.ID) -> Investigation:
        row = await info.context.investigations.cancel(_uuid(id), _user(info, "investigate").id)
        if info.context.jobs is not None:
            await info.context.jobs.announce(row["id"], "finished", status="cancelled")
        return Investigation.from_row(row)


@strawberry.enum
class InvestigationEventKind(Enum):
    CREATED = "created"
    STARTED = "started"
    PROGRESS = "progress"
    FINDING = "finding"
    FINISHED = "finished"


@strawberry.type(description="Something that happened to an investigation.")
class InvestigationEvent:
    id: str = strawberry.field(description="Its place in the stream; resume with `after`.")
    kind: InvestigationEventKind
    progress: float | None = strawberry.field(description="From 0 to 1, on PROGRESS.")
    payload: JSON = strawberry.field(
        description="What the event carries: the agent, a finding's kind, severity and "
        "summary, the final status..."
    )

    @classmethod
    def from_event(cls, event: Event) -> InvestigationEvent:
        progress = event.payload.get("progress")
        payload: Any = event.payload
        return cls(
            id=event.id,
            kind=InvestigationEventKind(event.kind),
            progress=float(progress) if progress is not None else None,
            payload=payload,
        )


@strawberry.type(description="Events that arrived together (at most 50, within 100 ms).")
class InvestigationEvents:
    investigation_id: strawberry.ID
    events: list[InvestigationEvent]


@strawberry.type
class InvestigationSubscriptions:
    @strawberry.subscription(
        description="The events of one of your investigations, from the start (or after "
        "`after`) until it finishes; then the subscription completes."
    )
    async def investigation_events(
        self, info: Info, id: strawberry.ID, after: str = "0"
    ) -> AsyncGenerator[InvestigationEvents, None]:
        start = _event_id(after)
        row = await info.context.investigations.get(_uuid(id), _user(info, "read").id)
        jobs = info.context.jobs
        if jobs is None:
            raise CidadaoError("this server runs no investigations")
        async for batch in info.context.investigations.events(jobs, row["id"], start):
            yield InvestigationEvents(
                investigation_id=id, events=[InvestigationEvent.from_event(e) for e in batch]
            )
