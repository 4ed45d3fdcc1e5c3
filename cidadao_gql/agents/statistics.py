"""Agents that compare distributions: unit-price outliers, supplier concentration and
Benford's law for first digits."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from typing import ClassVar

from cidadao_gql.agents.base import Finding, Target, finding
from cidadao_gql.data.db import Database
from cidadao_gql.data.statement import Sql
from cidadao_gql.ingestion.derived import ensure_current

BENFORD = [math.log10(1 + 1 / d) for d in range(1, 10)]
CHI2_P001_DF8 = 26.124  # chi-square critical value, 8 degrees of freedom, p = 0.001


class PriceOutlier:
    """Statistic: robust z-score of log unit price within its catalog code and unit,
    (ln p − median) / scale, against every award of that code (the market, real PNCP
    results included). The scale is 1.4826 × MAD (the median absolute deviation of the
    logs); when MAD is 0 (more than half the prices are equal), 1.2533 × the mean
    absolute deviation from the median (both estimate σ for normal data); and never below
    ln 1.1, so a z above 6 needs a price at least 1.1⁶ = 1.77× the median. The reference
    is the `price_references` view, refreshed first when a write to awards or items has
    marked it stale (`ensure_current`), so it is current whoever wrote the prices. Threshold: z above 6, with at least 10 prices for
    the code and unit. Only overpricing is flagged. Score: 0 at z = 6, 1 at z = 12."""

    name: ClassVar[str] = "price_outlier"
    kind: ClassVar[str] = "price_outlier"
    minimum: ClassVar[int] = 10
    threshold: ClassVar[float] = 6.0
    min_scale: ClassVar[float] = math.log(1.1)

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "x", day="awarded_on")
        await ensure_current(db)
        rows = await db.fetch(
            # The target's awards first (from its agencies' procurements, by index), then
            # their references: joined the other way round, every item is read.
            f"""WITH x AS MATERIALIZED (
                  SELECT * FROM (
                    SELECT a.id, a.unit_price, a.awarded_on, a.supplier_id, p.agency_id,
                           i.catalog_code AS code, lower(btrim(i.unit)) AS unit
                      FROM procurements p JOIN items i ON i.procurement_id = p.id
                      JOIN awards a ON a.item_id = i.id
                     WHERE a.unit_price > 0 AND i.catalog_code IS NOT NULL) x
                   WHERE {where}),
                scored AS (
                  SELECT x.*, r.n, r.med, r.mad,
                         greatest(CASE WHEN r.mad > 0 THEN 1.4826 * r.mad
                                       ELSE 1.2533 * r.mean_ad END,
                                  {sql.arg(self.min_scale)}) AS scale
                    FROM x JOIN price_references r USING (code, unit)
                   WHERE r.n >= {sql.arg(self.minimum)})
                SELECT id, unit_price, supplier_id, agency_id, code, unit, n, mad, scale,
                       exp(med) AS median_price, (ln(unit_price::float8) - med) / scale AS z
                  FROM scored
                 WHERE (ln(unit_price::float8) - med) / scale > {sql.arg(self.threshold)}""",
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
                        "statistic": "robustZ",
                        "value": round(z, 2),
                        "threshold": self.threshold,
                        "scale": round(float(r["scale"]), 6),
                        "scaleFrom": "mad" if r["mad"] > 0 else "meanAbsoluteDeviation",
                        "unitPrice": float(r["unit_price"]),
                        "median": round(float(r["median_price"]), 4),
                        "ratio": round(ratio, 3),
                        "sample": r["n"],
                        "minimumSample": self.minimum,
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
    spending shares (reported), over all the agency's contracts in the target's period
    whatever suppliers the target names (naming a supplier asks whether it dominates an
    agency, not what share it has of its own contracts). Threshold: one supplier holds
    half the contracts or more, among at least 50. (The share of contracts, not of value:
    one large contract can take most of an agency's spending without anything being
    wrong.) Score: 0 at half, 1 at all."""

    name: ClassVar[str] = "concentration"
    kind: ClassVar[str] = "concentration"
    minimum: ClassVar[int] = 50
    threshold: ClassVar[float] = 0.5

    async def run(self, db: Database, target: Target) -> list[Finding]:
        scope = replace(target, supplier_ids=())
        if target.supplier_ids:  # the agencies they sold to, then all those agencies' contracts
            sql = Sql()
            rows = await db.fetch(
                f"SELECT DISTINCT agency_id FROM contracts c WHERE {target.contracts(sql, 'c')}",
                *sql.args,
            )
            scope = replace(scope, agency_ids=tuple(r["agency_id"] for r in rows))
            if not scope.agency_ids:
                return []
        sql = Sql()
        where = scope.contracts(sql, "c")
        suppliers = (
            f"s.supplier_id = any({sql.arg(list(target.supplier_ids))}::bigint[])"
            if target.supplier_ids
            else "TRUE"
        )
        rows = await db.fetch(
            f"""WITH spend AS (
                  SELECT agency_id, supplier_id, count(*) AS n, sum(final_value) AS v
                    FROM contracts c WHERE {where} GROUP BY 1, 2),
                totals AS (
                  SELECT agency_id, sum(n) AS n, sum(v) AS v,
                         sum(v * v) / nullif(sum(v) * sum(v), 0) AS hhi
                    FROM spend GROUP BY 1 HAVING sum(n) >= {sql.arg(self.minimum)})
                SELECT s.agency_id, s.supplier_id, s.n::float / t.n AS share, s.n AS held,
                       (s.v / nullif(t.v, 0))::float AS value_share, t.n::int AS contracts,
                       t.hhi::float AS hhi
                  FROM spend s JOIN totals t USING (agency_id)
                 WHERE s.n::float / t.n >= {sql.arg(self.threshold)} AND {suppliers}""",
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
                    f" ({r['value_share'] or 0:.0%} of its spending); HHI {(r['hhi'] or 0) * 10000:,.0f}",
                    {
                        "statistic": "contractShare",
                        "value": round(r["share"], 4),
                        "threshold": self.threshold,
                        "contracts": r["contracts"],
                        "supplierContracts": r["held"],
                        "minimumContracts": self.minimum,
                        "valueShare": round(r["value_share"] or 0, 4),
                        "hhi": round((r["hhi"] or 0) * 10000),
                    },
                    supplier_ids=(r["supplier_id"],),
                    agency_ids=(r["agency_id"],),
                )
            )
        return findings


def first_digit(value: Decimal) -> int | None:
    """The first significant digit of `value` as written in decimal (999999.99 gives 9,
    where float formatting would round it to 1.000000e+06); None for zero."""
    digits = value.as_tuple().digits
    return next((d for d in digits if d), None)


def benford_deviation(values: Iterable[Decimal]) -> tuple[float, float, list[int]]:
    """(mean absolute deviation, chi-square, first-digit counts) against Benford's law, over
    the values of at least 1."""
    digits = Counter(first_digit(v) for v in values if v >= 1)
    n = sum(digits.values())
    counts = [digits.get(d, 0) for d in range(1, 10)]
    mad = sum(abs(c / n - p) for c, p in zip(counts, BENFORD, strict=True)) / 9
    chi2 = sum((c - n * p) ** 2 / (n * p) for c, p in zip(counts, BENFORD, strict=True))
    return mad, chi2, counts


class Benford:
    """Statistic: first digits of an agency's contract values against Benford's law, as
    the mean absolute deviation (MAD) and chi-square; digits are read from the decimal
    values. Threshold: at least 100 values, MAD above 0.015 (Nigrini's nonconformity
    bound; MAD does not grow with the sample as chi-square does) and chi-square above
    26.12 (p < 0.001, 8 df). Score: 0 at MAD 0.015, 1 at 0.06 (uniform digits)."""

    name: ClassVar[str] = "benford"
    kind: ClassVar[str] = "benford"
    minimum: ClassVar[int] = 100
    mad_threshold: ClassVar[float] = 0.015

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "c")
        rows = await db.fetch(
            f"""SELECT agency_id, array_agg(final_value) AS values FROM contracts c
                 WHERE {where} AND final_value >= 1
                 GROUP BY 1 HAVING count(*) >= {sql.arg(self.minimum)}""",
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
                        "statistic": "mad",
                        "value": round(mad, 5),
                        "threshold": self.mad_threshold,
                        "chi2": round(chi2, 2),
                        "chi2Threshold": CHI2_P001_DF8,
                        "minimumValues": self.minimum,
                        "counts": counts,
                        "expected": [round(p, 4) for p in BENFORD],
                    },
                    agency_ids=(r["agency_id"],),
                )
            )
        return findings
