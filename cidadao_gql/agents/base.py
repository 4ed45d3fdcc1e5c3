"""What every agent shares: the target it analyses and the findings it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Protocol

from cidadao_gql.data.db import Database
from cidadao_gql.data.statement import Sql

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Target:
    """What to analyse: contracts of some agencies and/or suppliers, in a period. Empty
    means everything."""

    agency_ids: tuple[int, ...] = ()
    supplier_ids: tuple[int, ...] = ()
    signed_from: date | None = None
    signed_to: date | None = None

    def contracts(self, sql: Sql, alias: str = "t", day: str = "signed_on") -> str:
        """WHERE conditions on rows aliased `alias` that have agency_id, supplier_id and a
        `day` column (contracts, or awards joined to their agency); the Sql collects the
        arguments."""
        conditions = ["TRUE"]
        if self.agency_ids:
            conditions.append(
                f"{alias}.agency_id = any({sql.arg(list(self.agency_ids))}::bigint[])"
            )
        if self.supplier_ids:
            conditions.append(
                f"{alias}.supplier_id = any({sql.arg(list(self.supplier_ids))}::bigint[])"
            )
        if self.signed_from is not None:
            conditions.append(f"{alias}.{day} >= {sql.arg(self.signed_from)}")
        if self.signed_to is not None:
            conditions.append(f"{alias}.{day} <= {sql.arg(self.signed_to)}")
        return " AND ".join(conditions)


@dataclass(frozen=True, slots=True)
class Finding:
    agent: str
    kind: str
    severity: str
    score: float  # in [0, 1]: how sure, or how far past the threshold
    summary: str  # the numbers that triggered it, for people
    evidence: dict[str, Any] = field(default_factory=dict)
    contract_ids: tuple[int, ...] = ()
    supplier_ids: tuple[int, ...] = ()
    agency_ids: tuple[int, ...] = ()
    award_ids: tuple[int, ...] = ()


class Agent(Protocol):
    name: ClassVar[str]
    kind: ClassVar[str]

    async def run(self, db: Database, target: Target) -> list[Finding]: ...


def severity(score: float) -> str:
    """Severity from a score in [0, 1]."""
    return SEVERITIES[min(3, int(score * 4))]


def finding(
    agent: Agent,
    score: float,
    summary: str,
    evidence: dict[str, Any],
    **related: tuple[int, ...],
) -> Finding:
    """A finding of `agent`: its severity from its score, the score kept to 3 decimals,
    `related` the contract, supplier, agency and award ids it concerns."""
    return Finding(
        agent.name, agent.kind, severity(score), round(score, 3), summary, evidence, **related
    )
