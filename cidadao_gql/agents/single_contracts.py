"""Agents that read single contracts against the law: amendments over the ceiling,
contracts signed under a sanction, and suppliers registered just before their first one."""

from __future__ import annotations

from typing import ClassVar

from cidadao_gql.agents.base import Finding, Target, finding
from cidadao_gql.data.db import Database
from cidadao_gql.data.statement import Sql
from cidadao_gql.law import AMENDMENT_CEILING, amendment_ceiling, object_kind


class AmendmentCeiling:
    """Statistic: final value / initial value. Threshold: above the art. 125 ceiling of the
    contract's kind: 1.25 (amendments may add 25 %), 1.50 for the renovation (reforma) of
    a building or of equipment (`law.object_kind`, the structured fields first). Score: 0
    at the ceiling, 1 at twice the initial."""

    name: ClassVar[str] = "amendment_ceiling"
    kind: ClassVar[str] = "amendment_over_ceiling"

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "c")
        # Over the lowest ceiling in SQL; the kind of each, from its wording, in Python.
        rows = await db.fetch(
            f"""SELECT c.id, c.agency_id, c.supplier_id, c.object, c.initial_value,
                       c.final_value, p.legal_basis,
                       (SELECT CASE WHEN bool_and(i.material_or_service = 'M') THEN 'M'
                                    WHEN bool_and(i.material_or_service = 'S') THEN 'S' END
                          FROM items i WHERE i.procurement_id = c.procurement_id)
                         AS material_or_service
                  FROM contracts c LEFT JOIN procurements p ON p.id = c.procurement_id
                 WHERE {where} AND c.initial_value > 0
                   AND c.final_value > c.initial_value * {sql.arg(AMENDMENT_CEILING)}""",
            *sql.args,
        )
        findings = []
        for r in rows:
            kind = object_kind(r["object"], r["material_or_service"], r["legal_basis"])
            ceiling = amendment_ceiling(kind)
            if r["final_value"] <= r["initial_value"] * ceiling:
                continue
            ratio = float(r["final_value"] / r["initial_value"])
            score = min(1.0, (ratio - float(ceiling)) / (2.0 - float(ceiling)))
            findings.append(
                finding(
                    self,
                    score,
                    f"final value R$ {r['final_value']:,.2f} is {ratio:.2f}× the initial"
                    f" R$ {r['initial_value']:,.2f}; the legal ceiling is {ceiling}×",
                    {
                        "statistic": "ratio",
                        "value": round(ratio, 4),
                        "threshold": float(ceiling),
                        "objectKind": kind.value,
                        "initialValue": float(r["initial_value"]),
                        "finalValue": float(r["final_value"]),
                    },
                    contract_ids=(r["id"],),
                    supplier_ids=(r["supplier_id"],),
                    agency_ids=(r["agency_id"],),
                )
            )
        return findings


class SanctionedSupplier:
    """Statistic: a contract's signing day against the CEIS/CNEP sanctions of its supplier's
    document, or of any establishment of the same company: a CNPJ's first 8 characters
    (its root) name the company, so a sanction on the head office (/0001) binds a branch
    (/0002) too. CPFs have no root and match only exactly. Threshold: signed on a day a
    sanction was in force. Score: 1 (it is a fact)."""

    name: ClassVar[str] = "sanctioned_supplier"
    kind: ClassVar[str] = "sanctioned_supplier"

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "c")
        rows = await db.fetch(
            # Two equality joins rather than one join on "exact OR same root", which
            # PostgreSQL could only run as a nested loop over every pair.
            f"""WITH c AS (
                  SELECT c.id, c.agency_id, c.supplier_id, c.signed_on, s.document,
                         s.kind = 'PJ' AND length(s.document) = 14 AS has_root
                    FROM contracts c JOIN suppliers s ON s.id = c.supplier_id WHERE {where}),
                matched AS (
                  SELECT c.*, x.supplier_document, x.register, x.starts_on, x.ends_on,
                         x.authority, TRUE AS exact
                    FROM c JOIN sanctions x ON x.supplier_document = c.document
                  UNION ALL
                  SELECT c.*, x.supplier_document, x.register, x.starts_on, x.ends_on,
                         x.authority, FALSE
                    FROM c JOIN sanctions x
                      ON left(x.supplier_document, 8) = left(c.document, 8)
                   WHERE c.has_root AND length(x.supplier_document) = 14
                     AND x.supplier_document <> c.document)
                SELECT DISTINCT ON (id) id, agency_id, supplier_id, signed_on, document,
                       supplier_document AS sanctioned_document, exact, register, starts_on,
                       ends_on, authority
                  FROM matched
                 WHERE signed_on >= starts_on AND (ends_on IS NULL OR signed_on <= ends_on)
                 ORDER BY id, exact DESC, starts_on""",
            *sql.args,
        )
        return [
            finding(
                self,
                1.0,  # a fact: critical
                f"signed on {r['signed_on']} while the supplier"
                f"{'' if r['exact'] else ' company (CNPJ root ' + r['document'][:8] + ')'}"
                f" was sanctioned in {r['register']}"
                f" from {r['starts_on']} to {r['ends_on'] or 'no end date'} ({r['authority']})",
                {
                    "statistic": "daysIntoSanction",
                    "value": (r["signed_on"] - r["starts_on"]).days,
                    "threshold": 0,
                    "match": "document" if r["exact"] else "cnpjRoot",
                    "sanctionedDocument": r["sanctioned_document"],
                    "signedOn": r["signed_on"].isoformat(),
                    "register": r["register"],
                    "sanctionStartsOn": r["starts_on"].isoformat(),
                    "sanctionEndsOn": r["ends_on"].isoformat() if r["ends_on"] else None,
                },
                contract_ids=(r["id"],),
                supplier_ids=(r["supplier_id"],),
                agency_ids=(r["agency_id"],),
            )
            for r in rows
        ]


class NewSupplier:
    """Statistic: days from a supplier's registration to its first contract (over all its
    contracts, not just the target's). Threshold: 30 days or fewer. Score: 1 on the day of
    registration, falling to 0 at 30 days."""

    name: ClassVar[str] = "new_supplier"
    kind: ClassVar[str] = "new_supplier"
    max_days: ClassVar[int] = 30

    async def run(self, db: Database, target: Target) -> list[Finding]:
        sql = Sql()
        where = target.contracts(sql, "c")
        rows = await db.fetch(
            f"""WITH wanted AS (SELECT DISTINCT supplier_id FROM contracts c WHERE {where})
                SELECT f.*, s.registered_on, f.signed_on - s.registered_on AS days
                  FROM wanted w
                  CROSS JOIN LATERAL (  -- the first contract, from the (supplier, day) index
                        SELECT c.supplier_id, c.id, c.agency_id, c.signed_on FROM contracts c
                         WHERE c.supplier_id = w.supplier_id ORDER BY c.signed_on, c.id LIMIT 1) f
                  JOIN suppliers s ON s.id = f.supplier_id
                 WHERE s.registered_on IS NOT NULL
                   AND f.signed_on - s.registered_on BETWEEN 0 AND {sql.arg(self.max_days)}""",
            *sql.args,
        )
        findings = []
        for r in rows:
            score = 1.0 - r["days"] / self.max_days
            findings.append(
                finding(
                    self,
                    score,
                    f"registered on {r['registered_on']}, first contract {r['days']} days later",
                    {
                        "statistic": "days",
                        "value": r["days"],
                        "threshold": self.max_days,
                        "registeredOn": r["registered_on"].isoformat(),
                        "firstSignedOn": r["signed_on"].isoformat(),
                    },
                    contract_ids=(r["id"],),
                    supplier_ids=(r["supplier_id"],),
                    agency_ids=(r["agency_id"],),
                )
            )
        return findings
