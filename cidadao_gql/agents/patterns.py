"""Agents that look at groups of contracts: near-duplicates and split purchases."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from functools import lru_cache
from typing import ClassVar

from cidadao_gql.agents.base import Finding, Target, finding
from cidadao_gql.data.db import Database, Record
from cidadao_gql.data.statement import Sql
from cidadao_gql.law import ART_75_I, direct_purchase_limit, object_kind
from cidadao_gql.objects import normalise_object

# Many contracts share a handful of object texts; normalise each text once per process.
normalised = lru_cache(maxsize=65_536)(normalise_object)


class NearDuplicate:
    """Statistic: pairs of contracts of the same agency and supplier, their objects'
    trigram similarity (pg_trgm) once normalised (`normalise_object`: case, accents,
    punctuation, digits, spacing and simple plurals set aside). Threshold: similarity
    0.9 or more, final values within 1 % and signed within 60 days. Every pair is seen:
    each (agency, supplier) group is sorted by value and each contract compared with all
    the following ones while they stay within 1 % (the gap only grows along the sort), so
    the work follows the pairs that are close in value, not all pairs. Score: how close
    the values are (1 when equal, 0 at the 1 % edge)."""

    name: ClassVar[str] = "near_duplicate"
    kind: ClassVar[str] = "near_duplicate"
    similarity: ClassVar[float] = 0.9
    value_gap: ClassVar[float] = 0.01
    max_days: ClassVar[int] = 60

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "t")
        rows = await db.fetch(
            f"""SELECT id, agency_id, supplier_id, object, final_value, signed_on
                  FROM contracts t WHERE {where}
                 ORDER BY agency_id, supplier_id, final_value, id""",
            *sql.args,
        )
        groups: dict[tuple[int, int], list[Record]] = defaultdict(list)
        for r in rows:
            groups[(r["agency_id"], r["supplier_id"])].append(r)
        gap = Decimal(str(self.value_gap))
        pairs: list[tuple[Record, Record]] = []
        for group in groups.values():
            for i, low in enumerate(group):
                for high in group[i + 1 :]:
                    if high["final_value"] - low["final_value"] > gap * high["final_value"]:
                        break
                    if abs((high["signed_on"] - low["signed_on"]).days) <= self.max_days:
                        pairs.append((low, high))
        if not pairs:
            return []
        similarities = await db.fetch(
            """SELECT n, similarity(a, b) AS s
                 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(a, b, n)""",
            [normalised(low["object"]) for low, _ in pairs],
            [normalised(high["object"]) for _, high in pairs],
        )
        findings = []
        for r in similarities:
            if r["s"] >= self.similarity:
                low, high = pairs[r["n"] - 1]
                findings.append(self._finding(low, high, float(r["s"])))
        return findings

    def _finding(self, low: Record, high: Record, similarity: float) -> Finding:
        gap = (
            float(high["final_value"] - low["final_value"]) / float(high["final_value"])
            if high["final_value"]
            else 0.0
        )
        days = abs((high["signed_on"] - low["signed_on"]).days)
        first, second = sorted([(low["signed_on"], low["id"]), (high["signed_on"], high["id"])])
        return finding(
            self,
            max(0.0, 1.0 - gap / self.value_gap),
            f"contracts {first[1]} and {second[1]}: same agency and supplier, objects"
            f" {similarity:.0%} alike, values R$ {low['final_value']:,.2f} and"
            f" R$ {high['final_value']:,.2f} ({gap:.2%} apart), {days} days apart",
            {
                "statistic": "valueGap",
                "value": round(gap, 6),
                "threshold": self.value_gap,
                "similarity": round(similarity, 4),
                "similarityThreshold": self.similarity,
                "days": days,
                "maxDays": self.max_days,
                "values": [float(low["final_value"]), float(high["final_value"])],
            },
            contract_ids=(first[1], second[1]),
            supplier_ids=(low["supplier_id"],),
            agency_ids=(low["agency_id"],),
        )


class SplitPurchase:
    """Fracionamento. Statistic: direct purchases (dispensa) by one agency with the same
    normalised object, within 30 days of the first. Threshold: three or more, each below
    the art. 75 limit of its day and kind, together above it. The kind comes from the
    procurement's legal basis and its items' material-or-service flag when the contract
    has them, and from the head of the object's wording otherwise (`law.object_kind`): I
    for works, engineering services and vehicle maintenance, II for other services and
    purchases. Score: how far the total passes the limit (1 at twice the limit)."""

    name: ClassVar[str] = "split_purchase"
    kind: ClassVar[str] = "split_purchase"
    window_days: ClassVar[int] = 30
    minimum: ClassVar[int] = 3

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "c")
        rows = await db.fetch(
            f"""SELECT c.id, c.agency_id, c.supplier_id, c.object, c.signed_on, c.final_value,
                       p.legal_basis,
                       (SELECT CASE WHEN bool_and(i.material_or_service = 'M') THEN 'M'
                                    WHEN bool_and(i.material_or_service = 'S') THEN 'S' END
                          FROM items i WHERE i.procurement_id = c.procurement_id)
                         AS material_or_service
                  FROM contracts c LEFT JOIN procurements p ON p.id = c.procurement_id
                 WHERE {where} AND c.modality = 8 ORDER BY c.signed_on, c.id""",
            *sql.args,
        )
        groups: dict[tuple[int, str], list[Record]] = defaultdict(list)
        for r in rows:
            groups[(r["agency_id"], normalised(r["object"]))].append(r)
        findings = []
        for group in groups.values():
            findings += self._windows(group)
        return findings

    @staticmethod
    def _limit(r: Record) -> Decimal:
        return direct_purchase_limit(
            r["signed_on"], r["object"], r["material_or_service"], r["legal_basis"]
        )

    def _windows(self, group: list[Record]) -> list[Finding]:
        findings, start = [], 0
        while start < len(group):
            first = group[start]
            end = start
            while (
                end + 1 < len(group)
                and (group[end + 1]["signed_on"] - first["signed_on"]).days <= self.window_days
            ):
                end += 1
            window = [r for r in group[start : end + 1] if r["final_value"] < self._limit(r)]
            limit = self._limit(first)
            total = sum((r["final_value"] for r in window), Decimal(0))
            if len(window) >= self.minimum and total > limit:
                findings.append(self._finding(window, total, limit))
                start = end + 1
            else:
                start += 1
        return findings

    def _finding(self, window: list[Record], total: Decimal, limit: Decimal) -> Finding:
        score = min(1.0, float(total / limit) - 1.0)
        first, last = window[0]["signed_on"], window[-1]["signed_on"]
        kind = object_kind(
            window[0]["object"], window[0]["material_or_service"], window[0]["legal_basis"]
        )
        return finding(
            self,
            score,
            f"{len(window)} direct purchases of '{window[0]['object']}' from {first} to {last},"
            f" each under the R$ {limit:,.2f} limit, R$ {total:,.2f} together",
            {
                "statistic": "total",
                "value": float(total),
                "threshold": float(limit),
                "count": len(window),
                "minimum": self.minimum,
                "windowDays": self.window_days,
                "objectKind": kind.value,
                "article": "art. 75 I" if kind in ART_75_I else "art. 75 II",
                "from": first.isoformat(),
                "to": last.isoformat(),
            },
            contract_ids=tuple(r["id"] for r in window),
            supplier_ids=tuple(sorted({r["supplier_id"] for r in window})),
            agency_ids=(window[0]["agency_id"],),
        )
