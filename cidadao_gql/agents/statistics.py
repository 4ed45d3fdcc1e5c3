"""Agents that compare distributions: unit-price outliers, supplier concentration and
Benford's law for first digits."""

from __future__ import annotations

import math
from collections import Counter
from typing import ClassVar

from cidadao_gql.agents.base import Finding, Target, finding
from cidadao_gql.db import Database
from cidadao_gql.queries import Sql

BENFORD = [math.log10(1 + 1 / d) for d in range(1, 10)]
CHI2_P001_DF8 = 26.124  # chi-square critical value, 8 degrees of freedom, p = 0.001


class PriceOutlier:
    """Statistic: robust z-score of log unit price within its catalog code and unit,
    (ln p − median) / (1.4826 × MAD), against every award of that code (the market, real
    PNCP results included; kept in the `price_references` view, refreshed on writes). Threshold: z above 6, with at least 10 prices for the code and unit.
    Only overpricing is flagged. Score: 0 at z = 6, 1 at z = 12."""

    name: ClassVar[str] = "price_outlier"
    kind: ClassVar[str] = "price_outlier"
    minimum: ClassVar[int] = 10
    threshold: ClassVar[float] = 6.0

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "x", day="awarded_on")
        rows = await db.fetch(
            f"""SELECT x.id, x.unit_price, x.supplier_id, x.agency_id, x.code, x.unit, r.n,
                       exp(r.med) AS median_price, (ln(x.unit_price) - r.med) / (1.4826 * r.mad) AS z
                  FROM (SELECT a.id, a.unit_price, a.awarded_on, a.supplier_id, p.agency_id,
                               i.catalog_code AS code, lower(btrim(i.unit)) AS unit
                          FROM awards a JOIN items i ON i.id = a.item_id
                          JOIN procurements p ON p.id = i.procurement_id
                         WHERE a.unit_price > 0 AND i.catalog_code IS NOT NULL) x
                  JOIN price_references r USING (code, unit)
                 WHERE r.n >= {sql.arg(self.minimum)} AND r.mad > 0
                   AND (ln(x.unit_price) - r.med) / (1.4826 * r.mad) > {sql.arg(self.threshold)}
                   AND {where}""",
            *sql.args,
        )
        findings = []
        for r in rows:
            z = float(r["z"])
            score = min(1.0, (z - self.threshold) / self.threshold)
            ratio = float(r["unit_price"]) / float(r["median_price"])
            findings.append(
                finding(
                    self,
                    score,
                    f"unit price R$ {r['unit_price']:,.4f} is {ratio:.1f}× the median R$"
                    f" {r['median_price']:,.4f} of {r['n']} prices for code {r['code']} ({r['unit']});"
                    f" robust z = {z:.1f}",
                    {
                        "unitPrice": str(r["unit_price"]),
                        "median": round(float(r["median_price"]), 4),
                        "ratio": round(ratio, 3),
                        "z": round(z, 2),
                        "sample": r["n"],
                        "catalogCode": r["code"],
                        "unit": r["unit"],
                    },
                    award_ids=(r["id"],),
                    supplier_ids=(r["supplier_id"],),
                    agency_ids=(r["agency_id"],),
                )
            )
        return findings


class Concentration:
    """Statistic: each supplier's share of an agency's contracts, and the agency's HHI of
    spending shares (reported). Threshold: one supplier holds half the contracts or more,
    among at least 50. (The share of contracts, not of value: one large contract can take
    most of an agency's spending without anything being wrong.) Score: 0 at half, 1 at all."""

    name: ClassVar[str] = "concentration"
    kind: ClassVar[str] = "concentration"
    minimum: ClassVar[int] = 50
    threshold: ClassVar[float] = 0.5

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "c")
        rows = await db.fetch(
            f"""WITH spend AS (
                  SELECT agency_id, supplier_id, count(*) AS n, sum(final_value) AS v
                    FROM contracts c WHERE {where} GROUP BY 1, 2),
                totals AS (
                  SELECT agency_id, sum(n) AS n, sum(v) AS v,
                         sum(v * v) / nullif(sum(v) * sum(v), 0) AS hhi
                    FROM spend GROUP BY 1 HAVING sum(n) >= {sql.arg(self.minimum)})
                SELECT s.agency_id, s.supplier_id, s.n::float / t.n AS share,
                       (s.v / nullif(t.v, 0))::float AS value_share, t.n AS contracts, t.hhi::float AS hhi
                  FROM spend s JOIN totals t USING (agency_id)
                 WHERE s.n::float / t.n >= {sql.arg(self.threshold)}""",
            *sql.args,
        )
        findings = []
        for r in rows:
            score = min(1.0, (r["share"] - self.threshold) / (1 - self.threshold))
            findings.append(
                finding(
                    self,
                    score,
                    f"one supplier holds {r['share']:.0%} of the agency's {r['contracts']} contracts"
                    f" ({r['value_share']:.0%} of its spending); HHI {r['hhi'] * 10000:,.0f}",
                    {
                        "share": round(r["share"], 4),
                        "valueShare": round(r["value_share"] or 0, 4),
                        "contracts": r["contracts"],
                        "hhi": round(r["hhi"] * 10000),
                    },
                    supplier_ids=(r["supplier_id"],),
                    agency_ids=(r["agency_id"],),
                )
            )
        return findings


def benford_deviation(values: list[float]) -> tuple[float, float, list[int]]:
    """(mean absolute deviation, chi-square, first-digit counts) against Benford's law."""
    digits = Counter(int(f"{v:e}"[0]) for v in values if v >= 1)
    n = sum(digits.values())
    counts = [digits.get(d, 0) for d in range(1, 10)]
    mad = sum(abs(c / n - p) for c, p in zip(counts, BENFORD, strict=True)) / 9
    chi2 = sum((c - n * p) ** 2 / (n * p) for c, p in zip(counts, BENFORD, strict=True))
    return mad, chi2, counts


class Benford:
    """Statistic: first digits of an agency's contract values against Benford's law, as
    the mean absolute deviation (MAD) and chi-square. Threshold: at least 100 values, MAD
    above 0.015 (Nigrini's nonconformity bound; MAD does not grow with the sample as
    chi-square does) and chi-square above 26.12 (p < 0.001, 8 df). Score: 0 at MAD 0.015,
    1 at 0.06 (uniform digits)."""

    name: ClassVar[str] = "benford"
    kind: ClassVar[str] = "benford"
    minimum: ClassVar[int] = 100
    mad_threshold: ClassVar[float] = 0.015

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "c")
        rows = await db.fetch(
            f"""SELECT agency_id, array_agg(final_value::float8) AS values FROM contracts c
                 WHERE {where} GROUP BY 1 HAVING count(*) >= {sql.arg(self.minimum)}""",
            *sql.args,
        )
        findings = []
        for r in rows:
            mad, chi2, counts = benford_deviation(r["values"])
            if mad <= self.mad_threshold or chi2 <= CHI2_P001_DF8:
                continue
            score = min(1.0, (mad - self.mad_threshold) / 0.045)
            findings.append(
                finding(
                    self,
                    score,
                    f"first digits of {sum(counts)} values deviate from Benford's law:"
                    f" MAD {mad:.4f} (nonconforming above 0.015), chi-square {chi2:.1f}",
                    {
                        "mad": round(mad, 5),
                        "chi2": round(chi2, 2),
                        "counts": counts,
                        "expected": [round(p, 4) for p in BENFORD],
                    },
                    agency_ids=(r["agency_id"],),
                )
            )
        return findings
