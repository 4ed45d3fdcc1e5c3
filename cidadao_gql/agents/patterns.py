"""Agents that look at groups of contracts: near-duplicates and split purchases."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import ClassVar

from cidadao_gql.agents.base import Finding, Target, finding
from cidadao_gql.db import Database, Record
from cidadao_gql.law import direct_purchase_limit
from cidadao_gql.queries import Sql


class NearDuplicate:
    """Statistic: pairs of contracts of the same agency and supplier whose objects are the
    same text once case, punctuation, digits and spacing are set aside. Threshold: final
    values within 1 % and signed within 60 days. Each contract is compared with the next
    one by value in its group, so the work grows with n log n, not with the pairs. Score:
    how close the values are (1 when equal, 0 at the 1 % edge)."""

    name: ClassVar[str] = "near_duplicate"
    kind: ClassVar[str] = "near_duplicate"

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "t")
        rows = await db.fetch(
            f"""WITH grouped AS (
                  SELECT id, agency_id, supplier_id, final_value, signed_on,
                         lead(id) OVER w AS next_id, lead(final_value) OVER w AS next_value,
                         lead(signed_on) OVER w AS next_signed
                    FROM contracts t
                   WHERE {where}
                  WINDOW w AS (PARTITION BY agency_id, supplier_id,
                               btrim(regexp_replace(lower(object), '[^[:alpha:]]+', ' ', 'g'))
                               ORDER BY final_value, id))
                SELECT * FROM grouped
                 WHERE next_id IS NOT NULL AND next_value - final_value <= 0.01 * next_value
                   AND abs(next_signed - signed_on) <= 60""",
            *sql.args,
        )
        findings = []
        for r in rows:
            gap = (
                float(r["next_value"] - r["final_value"]) / float(r["next_value"])
                if r["next_value"]
                else 0.0
            )
            score = max(0.0, 1.0 - gap / 0.01)
            days = abs((r["next_signed"] - r["signed_on"]).days)
            pair = sorted([(r["signed_on"], r["id"]), (r["next_signed"], r["next_id"])])
            findings.append(
                finding(
                    self,
                    score,
                    f"contracts {pair[0][1]} and {pair[1][1]}: same agency, supplier and object,"
                    f" values R$ {r['final_value']:,.2f} and R$ {r['next_value']:,.2f}, {days} days apart",
                    {"days": days, "values": [str(r["final_value"]), str(r["next_value"])]},
                    contract_ids=(pair[0][1], pair[1][1]),
                    supplier_ids=(r["supplier_id"],),
                    agency_ids=(r["agency_id"],),
                )
            )
        return findings


class SplitPurchase:
    """Fracionamento. Statistic: direct purchases (dispensa) by one agency with the same
    object, within 30 days of the first. Threshold: three or more, each below the art. 75
    limit of its day (I for works and vehicle maintenance, II otherwise), together above it.
    Score: how far the total passes the limit (1 at twice the limit)."""

    name: ClassVar[str] = "split_purchase"
    kind: ClassVar[str] = "split_purchase"
    window_days: ClassVar[int] = 30
    minimum: ClassVar[int] = 3

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "c")
        rows = await db.fetch(
            f"""SELECT id, agency_id, supplier_id, object, signed_on, final_value FROM contracts c
                 WHERE {where} AND c.modality = 8 ORDER BY agency_id, object, signed_on, id""",
            *sql.args,
        )
        groups: dict[tuple[int, str], list[Record]] = defaultdict(list)
        for r in rows:
            groups[(r["agency_id"], r["object"].lower())].append(r)
        findings = []
        for group in groups.values():
            findings += self._windows(group)
        return findings

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
            window = [
                r
                for r in group[start : end + 1]
                if r["final_value"] < direct_purchase_limit(r["signed_on"], r["object"])
            ]
            limit = direct_purchase_limit(first["signed_on"], first["object"])
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
        return finding(
            self,
            score,
            f"{len(window)} direct purchases of '{window[0]['object']}' from {first} to {last},"
            f" each under the R$ {limit:,.2f} limit, R$ {total:,.2f} together",
            {
                "count": len(window),
                "total": str(total),
                "limit": str(limit),
                "from": first.isoformat(),
                "to": last.isoformat(),
            },
            contract_ids=tuple(r["id"] for r in window),
            supplier_ids=tuple(sorted({r["supplier_id"] for r in window})),
            agency_ids=(window[0]["agency_id"],),
        )
