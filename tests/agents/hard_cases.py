"""The hard-case set: what real procurement data holds and the generator never plants,
written by SQL case by case, each positive with near misses just under its threshold.

Each case stands in its own agency and with its own suppliers, so that no case can trigger
another agent: values, dates and suppliers are spread so that only the agent a case is
written for has anything to say about it. The ground truth is written here, from the law
and the statistics the README states, not from any agent's code.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import asyncpg

from cidadao_gql.taxids import complete_cnpj, complete_cpf

DAY = date(2024, 5, 1)  # art. 75 limits: I R$ 119,812.02, II R$ 59,906.02
BENFORD = [math.log10(1 + 1 / d) for d in range(1, 10)]


@dataclass
class HardCases:
    """The ground truth, in the units test_quality scores in, and the ids tests name."""

    truth: dict[str, set[object]] = field(default_factory=lambda: defaultdict(set))
    near_misses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ids: dict[str, int] = field(default_factory=dict)


class Planter:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn, self.n = conn, 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    async def agency(self) -> int:
        n = self._next()
        agency: int = await self.conn.fetchval(
            "INSERT INTO agencies (cnpj, name, sphere) VALUES ($1, $2, 'M') RETURNING id",
            complete_cnpj(f"{90_000_000 + n:08d}0001"),
            f"Prefeitura de teste {n}",
        )
        return agency

    async def supplier(self, document: str | None = None, registered_on: date | None = None) -> int:
        n = self._next()
        document = document or complete_cnpj(f"{20_000_000 + n:08d}0001")
        supplier: int = await self.conn.fetchval(
            """INSERT INTO suppliers (document, kind, name, registered_on)
               VALUES ($1, $2, $3, $4) RETURNING id""",
            document,
            "PF" if len(document) == 11 else "PJ",
            f"Fornecedor de teste {n}",
            registered_on,
        )
        return supplier

    async def contract(
        self,
        agency: int,
        supplier: int,
        value: str | Decimal,
        signed_on: date = DAY,
        object_text: str = "Aquisição de material de expediente",
        modality: int = 6,
        initial: str | Decimal | None = None,
        procurement: int | None = None,
    ) -> int:
        contract: int = await self.conn.fetchval(
            """INSERT INTO contracts (agency_id, supplier_id, procurement_id, number, object,
                                      modality, initial_value, final_value, signed_on)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
            agency,
            supplier,
            procurement,
            f"{self._next()}/2024",
            object_text,
            modality,
            Decimal(initial if initial is not None else value),
            Decimal(value),
            signed_on,
        )
        return contract

    async def procurement(
        self,
        agency: int,
        object_text: str,
        legal_basis: str | None = None,
        material_or_service: str | None = None,
        code: str | None = None,
        unit: str = "Unidade",
        modality: int = 8,
    ) -> tuple[int, int]:
        """A procurement with one item: (procurement id, item id)."""
        n = self._next()
        procurement: int = await self.conn.fetchval(
            """INSERT INTO procurements (pncp_control_number, agency_id, year, sequence,
                                         modality, legal_basis, object, published_at)
               VALUES ($1, $2, 2024, $3, $4, $5, $6, '2024-04-01') RETURNING id""",
            f"hard-{n}",
            agency,
            n,
            modality,
            legal_basis,
            object_text,
        )
        item: int = await self.conn.fetchval(
            """INSERT INTO items (procurement_id, number, description, catalog_code, unit,
                                  material_or_service)
               VALUES ($1, 1, $2, $3, $4, $5) RETURNING id""",
            procurement,
            object_text,
            code,
            unit,
            material_or_service,
        )
        return procurement, item

    async def prices(self, agency: int, code: str, prices: list[str]) -> list[int]:
        """Awards of catalog `code` at these unit prices, each in its own procurement and
        by its own supplier; their ids in order."""
        ids = []
        for k, price in enumerate(prices):
            _, item = await self.procurement(agency, f"Item {code}", code=code, modality=6)
            award: int = await self.conn.fetchval(
                """INSERT INTO awards (item_id, supplier_id, sequence, quantity, unit_price,
                                       total, awarded_on)
                   VALUES ($1, $2, 1, 10, $3::numeric, $3::numeric * 10, $4) RETURNING id""",
                item,
                await self.supplier(),
                Decimal(price),
                DAY + timedelta(days=k),
            )
            ids.append(award)
        return ids


async def plant(conn: asyncpg.Connection) -> HardCases:
    p, cases = Planter(conn), HardCases()
    await _split_purchases(p, cases)
    await _near_duplicates(p, cases)
    await _sanctions(p, cases)
    await _prices(p, cases)
    await _amendments(p, cases)
    await _concentration(p, cases)
    await _benford(p, cases)
    await _new_suppliers(p, cases)
    return cases


async def _cluster(
    p: Planter,
    values: list[str],
    object_texts: list[str],
    days: list[int],
    procurement: tuple[str | None, str | None] | None = None,
) -> list[int]:
    """Direct purchases by one agency, each from its own supplier (so no two are near
    duplicates)."""
    agency, ids = await p.agency(), []
    for value, text, day in zip(values, object_texts, days, strict=True):
        pid = None
        if procurement is not None:
            pid, _ = await p.procurement(agency, text, *procurement)
        ids.append(
            await p.contract(
                agency, await p.supplier(), value, DAY + timedelta(day), text, 8, procurement=pid
            )
        )
    return ids


async def _split_purchases(p: Planter, cases: HardCases) -> None:
    truth = cases.truth["split_purchase"]

    def positive(ids: list[int]) -> None:
        truth.update(ids)

    def near_miss(_: list[int]) -> None:
        cases.near_misses["split_purchase"] += 1

    # The same object typed three ways: a trailing ".", ":" and " -".
    texts = [
        "Aquisição de material de limpeza.",
        "Aquisição de material de limpeza:",
        "AQUISIÇÃO DE MATERIAL DE LIMPEZA -",
    ]
    positive(ids := await _cluster(p, ["22000.00"] * 3, texts, [0, 5, 10]))
    cases.ids["split_punctuation"] = ids[0]
    # Food for the Secretaria de Obras is a purchase (II), not works (I).
    food = "Aquisição de gêneros alimentícios: carnes e frios para a Secretaria de Obras"
    positive(ids := await _cluster(p, ["25000.00"] * 3, [food] * 3, [0, 7, 14]))
    cases.ids["split_food_for_works"] = ids[0]
    # Building material is a purchase too.
    material = "Aquisição de material de construção"
    positive(ids := await _cluster(p, ["25000.00"] * 3, [material] * 3, [0, 7, 14]))
    cases.ids["split_building_material"] = ids[0]
    # Plurals: one object in the singular, the others in the plural.
    gloves = ["Aquisição de luvas descartáveis", "Aquisição de luva descartável"] * 2
    positive(await _cluster(p, ["16000.00"] * 4, gloves, [0, 3, 6, 9]))
    # The legal basis says art. 75 II although the wording says engineering.
    engineering = "Serviços de engenharia elétrica"
    basis = ("Lei 14.133/2021, Art. 75, II", None)
    positive(await _cluster(p, ["25000.00"] * 3, [engineering] * 3, [0, 5, 10], basis))
    # The items are materials although the wording starts with paving.
    paving = "Pavimentação asfáltica - fornecimento de CBUQ"
    positive(await _cluster(p, ["25000.00"] * 3, [paving] * 3, [0, 5, 10], (None, "M")))
    # Vehicle maintenance over the art. 75 I limit.
    vehicles = "Manutenção de veículos da frota municipal"
    positive(await _cluster(p, ["45000.00"] * 3, [vehicles] * 3, [0, 10, 20]))

    # Near misses: together exactly at the limit (not above it).
    at_limit = ["19968.67", "19968.67", "19968.68"]
    near_miss(await _cluster(p, at_limit, ["Aquisição de toner"] * 3, [0, 5, 10]))
    # Two purchases only.
    near_miss(await _cluster(p, ["40000.00"] * 2, ["Aquisição de papel A4"] * 2, [0, 5]))
    # Building maintenance is an engineering service (art. 75 I): under its limit.
    building = "Serviços de manutenção predial"
    ids = await _cluster(p, ["30000.00"] * 3, [building] * 3, [0, 5, 10])
    near_miss(ids)
    cases.ids["split_building_maintenance"] = ids[0]
    # Works under the art. 75 I limit, for the Secretaria de Obras.
    works = "Obras de pavimentação de vias urbanas para a Secretaria de Obras"
    near_miss(await _cluster(p, ["35000.00"] * 3, [works] * 3, [0, 5, 10]))
    # No 30-day window holds three.
    near_miss(await _cluster(p, ["25000.00"] * 3, ["Aquisição de envelopes"] * 3, [0, 16, 32]))
    # The legal basis says art. 75 I: an engineering service under its limit.
    near_miss(
        await _cluster(
            p, ["30000.00"] * 3, ["Serviços de eletricidade"] * 3, [0, 5, 10],
            ("Lei 14.133/2021, Art. 75, I", "S"),
        )
    )  # fmt: skip


async def _pair(
    p: Planter, values: tuple[str, str], days: tuple[int, int], texts: tuple[str, str]
) -> frozenset[int]:
    agency, supplier = await p.agency(), await p.supplier()
    return frozenset(
        [
            await p.contract(agency, supplier, values[0], DAY + timedelta(days[0]), texts[0]),
            await p.contract(agency, supplier, values[1], DAY + timedelta(days[1]), texts[1]),
        ]
    )


async def _near_duplicates(p: Planter, cases: HardCases) -> None:
    truth = cases.truth["near_duplicate"]
    chairs = "Aquisição de cadeiras escolares para a Secretaria de Educação"
    # One plural "s" apart.
    pair = await _pair(
        p, ("10000.00", "10050.00"), (0, 10), (chairs, "Aquisição de cadeira escolar para a"
                                                       " Secretaria de Educação"),
    )  # fmt: skip
    truth.add(pair)
    cases.ids["plural_pair"] = min(pair)
    # A third contract between them by value: A = V on day 0, B = 1.004 V on day 200,
    # C = 1.008 V on day 10; A and C are the pair.
    agency, supplier = await p.agency(), await p.supplier()
    text = "Serviços de limpeza de prédios públicos"
    a = await p.contract(agency, supplier, "50000.00", DAY, text)
    await p.contract(agency, supplier, "50200.00", DAY + timedelta(200), text)
    c = await p.contract(agency, supplier, "50400.00", DAY + timedelta(10), text)
    truth.add(frozenset((a, c)))
    cases.ids["between_a"], cases.ids["between_c"] = a, c
    # Case, accents and punctuation.
    truth.add(
        await _pair(
            p,
            ("7300.00", "7310.00"),
            (0, 59),
            ("Serviço de vigilância.", "SERVICO DE VIGILANCIA -"),
        )
    )
    # Digits differ (a lot number), and a word order that trigrams still see as one object.
    truth.add(
        await _pair(
            p, ("120000.00", "120500.00"), (30, 0),
            ("Aquisição de medicamentos lote 1: dipirona sódica 500 mg",
             "Aquisição de medicamentos lote 2: dipirona sódica 500 mg"),
        )
    )  # fmt: skip

    misses = (
        (("10000.00", "10102.00"), (0, 10), (chairs, chairs)),  # 1.01 % apart
        (("10000.00", "10000.00"), (0, 61), (chairs, chairs)),  # 61 days apart
        (  # different things of the same kind
            ("10000.00", "10000.00"),
            (0, 10),
            ("Aquisição de cadeiras escolares", "Aquisição de mesas escolares"),
        ),
    )
    for values, days, texts in misses:
        await _pair(p, values, days, texts)
        cases.near_misses["near_duplicate"] += 1
    # Another supplier of the same agency.
    agency = await p.agency()
    await p.contract(agency, await p.supplier(), "10000.00", DAY, chairs)
    await p.contract(agency, await p.supplier(), "10000.00", DAY, chairs)
    cases.near_misses["near_duplicate"] += 1


async def _sanctions(p: Planter, cases: HardCases) -> None:
    truth = cases.truth["sanctioned_supplier"]
    start, end = date(2024, 1, 1), date(2024, 12, 31)

    async def sanction(document: str, ends_on: date | None = end) -> None:
        await p.conn.execute(
            """INSERT INTO sanctions (supplier_document, register, starts_on, ends_on, authority)
               VALUES ($1, 'CEIS', $2, $3, 'Controladoria-Geral da União')""",
            document,
            start,
            ends_on,
        )

    agency = await p.agency()
    # A branch (/0002) of a company sanctioned at its head office (/0001).
    root = "31415926"
    await sanction(complete_cnpj(f"{root}0001"))
    branch = await p.supplier(complete_cnpj(f"{root}0002"))
    cases.ids["branch_contract"] = await p.contract(agency, branch, "5000.00", DAY)
    truth.add(cases.ids["branch_contract"])
    # The sanctioned document itself, and a sanction with no end date.
    head = await p.supplier(complete_cnpj(f"{root}0001"))
    truth.add(await p.contract(agency, head, "5000.00", DAY + timedelta(100)))
    endless = complete_cnpj("27182818" + "0001")
    await sanction(endless, None)
    truth.add(await p.contract(agency, await p.supplier(endless), "5000.00", DAY))

    # Near misses: the branch a day before the sanction and a day after it.
    await p.contract(agency, branch, "5000.00", start - timedelta(1))
    await p.contract(agency, branch, "5000.00", end + timedelta(1))
    # A CPF whose first 8 digits are the sanctioned company's root: a person, no root.
    person = await p.supplier(complete_cpf(f"{root}5"))
    await p.contract(agency, person, "5000.00", DAY)
    # A company whose root differs in its last digit.
    other = await p.supplier(complete_cnpj("314159270001"))
    await p.contract(agency, other, "5000.00", DAY)
    cases.near_misses["sanctioned_supplier"] += 4


async def _prices(p: Planter, cases: HardCases) -> None:
    truth = cases.truth["price_outlier"]
    # Awards only: this agency has no contracts, as the PNCP sample's agencies have none.
    agency = await p.agency()
    cases.ids["awards_only_agency"] = agency
    same = ["10.0000"] * 12
    # Other prices all identical (MAD = 0): 20× must still be found.
    *_, twenty = await p.prices(agency, "800001", [*same, "200.0000"])
    truth.add(twenty)
    cases.ids["twenty_times"] = twenty
    # A spread market (MAD > 0) and 25× (the view was never refreshed after these).
    spread = [f"{10 * math.exp(0.05 * k):.4f}" for k in range(-7, 8)]
    *_, quarter = await p.prices(agency, "800002", [*spread, "250.0000"])
    truth.add(quarter)
    # MAD = 0 and 2×: z = ln 2 / ln 1.1 = 7.3.
    *_, double = await p.prices(agency, "800003", [*same, "20.0000"])
    truth.add(double)

    # Near misses: 1.7× over identical prices (z = ln 1.7 / ln 1.1 = 5.6), 25× with 9 prices
    # only, and 1/20 (underpricing is not flagged).
    await p.prices(agency, "800004", [*same, "17.0000"])
    await p.prices(agency, "800005", [*same[:8], "250.0000"])
    await p.prices(agency, "800006", [*same, "0.5000"])
    cases.near_misses["price_outlier"] += 3


async def _amendments(p: Planter, cases: HardCases) -> None:
    truth = cases.truth["amendment_ceiling"]
    agency = await p.agency()
    school = "Reforma do prédio da Escola Municipal"
    equipment = "Reforma de equipamentos hospitalares"
    positives = (
        (school, "152000.00"),  # a renovation over 50 %
        ("Aquisição de material de expediente", "126000.00"),  # a purchase over 25 %
        ("Aquisição de material para a reforma da escola", "140000.00"),  # a purchase
        ("Obras de pavimentação de vias urbanas", "130000.00"),  # works are not renovation
    )
    misses = (
        (school, "140000.00"),  # 1.40×: renovation, under 50 %
        (equipment, "144000.00"),  # 1.44×: renovation of equipment
        (school, "150000.00"),  # exactly 50 %
        ("Aquisição de material de expediente", "125000.00"),  # exactly 25 %
    )
    for text, final in positives:
        supplier = await p.supplier()
        truth.add(await p.contract(agency, supplier, final, DAY, text, initial="100000.00"))
    for k, (text, final) in enumerate(misses):
        supplier = await p.supplier()
        contract = await p.contract(agency, supplier, final, DAY, text, initial="100000.00")
        cases.ids[f"renovation_{k}"] = contract
        cases.near_misses["amendment_ceiling"] += 1


async def _agency_of(p: Planter, favourite: int, others: int) -> tuple[int, int]:
    """An agency whose `favourite` contracts go to one supplier and `others` each to its
    own; values 2 % apart so that no two are near duplicates: (agency, favourite)."""
    agency, supplier = await p.agency(), await p.supplier()
    for k in range(favourite):
        await p.contract(agency, supplier, f"{1000 * 1.02**k:.2f}", DAY + timedelta(k))
    for k in range(others):
        await p.contract(agency, await p.supplier(), f"{1000 * 1.02**k:.2f}", DAY)
    return agency, supplier


async def _concentration(p: Planter, cases: HardCases) -> None:
    agency, favourite = await _agency_of(p, 31, 29)  # 51.7 % of 60
    cases.truth["concentration"].add(agency)
    cases.ids["dominant_supplier"] = favourite
    cases.ids["dominant_agency"] = agency
    cases.truth["concentration"].add((await _agency_of(p, 30, 30))[0])  # exactly half
    cases.truth["concentration"].add((await _agency_of(p, 50, 0))[0])  # all of 50
    await _agency_of(p, 29, 31)  # 48.3 % of 60
    await _agency_of(p, 40, 9)  # 82 % of 49: below the 50-contract sample
    _, minor = await _agency_of(p, 6, 54)  # 10 % of 60 (54 single-contract suppliers)
    cases.ids["minor_supplier"] = minor
    cases.near_misses["concentration"] += 3


async def _digit_agency(p: Planter, counts: list[int], nines: str | None = None) -> int:
    """An agency with counts[d - 1] values of first digit d, over 50 suppliers whose own
    contracts are 61 days apart (no near duplicates); `nines` writes every digit-9 value
    as that text plus cents that vary."""
    agency = await p.agency()
    suppliers = [await p.supplier() for _ in range(50)]
    k = 0
    for digit, count in enumerate(counts, start=1):
        for j in range(count):
            value = (
                f"{nines}{j % 10}"
                if nines and digit == 9
                else f"{digit}{(j * 37) % 1000:03d}{j % 7}.{j % 100:02d}"
            )
            signed = date(2020, 1, 1) + timedelta(61 * (k // 50))
            await p.contract(agency, suppliers[k % 50], value, signed)
            k += 1
    return agency


async def _benford(p: Planter, cases: HardCases) -> None:
    truth = cases.truth["benford"]
    conforming = [round(1000 * share) for share in BENFORD]
    # Digit 9 over-represented (14.6 % against 4.6 %), the 1s under-represented as much,
    # by values like 9999999.99 that float formatting reads as 1.000000e+07: read that way
    # the set would conform (MAD 0.010).
    skewed = [conforming[0] - 100, *conforming[1:8], conforming[8] + 100]
    agency = await _digit_agency(p, skewed, nines="9999999.9")
    truth.add(agency)
    cases.ids["benford_nines"] = agency
    truth.add(await _digit_agency(p, [23] * 9))  # uniform digits
    # 70 of the 1s moved to 9s: MAD 0.0156, just over 0.015.
    truth.add(await _digit_agency(p, [conforming[0] - 70, *conforming[1:8], conforming[8] + 70]))
    await _digit_agency(p, conforming)  # Benford's own distribution
    # 63 of the 1s moved to 9s: MAD 0.014, just under 0.015, though chi-square is large.
    await _digit_agency(p, [conforming[0] - 63, *conforming[1:8], conforming[8] + 63])
    cases.near_misses["benford"] += 2


async def _new_suppliers(p: Planter, cases: HardCases) -> None:
    truth = cases.truth["new_supplier"]
    agency = await p.agency()
    for days, new in ((30, True), (0, True), (17, True), (31, False), (-5, False)):
        supplier = await p.supplier(registered_on=DAY - timedelta(days))
        await p.contract(agency, supplier, f"{3000 + days * 97}.00", DAY)
        if new:
            truth.add(supplier)
        else:
            cases.near_misses["new_supplier"] += 1
