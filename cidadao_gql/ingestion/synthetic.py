"""A synthetic procurement data set: deterministic from a seed, realistic in shape, with
planted anomalies recorded as ground truth so that agents can be scored.

Shapes: contract values are log-normal; supplier popularity is Zipf-like (exponent 1.1),
agency activity milder (0.8); signing dates are seasonal (budget years end in a rush in
November and December, January is slow, weekends are rare). Kinds of planted anomaly:

    amendment_over_ceiling  final value 1.3-2.0x the initial (legal ceiling is 1.25x)
    near_duplicate          a second contract, same agency and supplier, same object,
                            value within 0.5 %, signed within 60 days of the first
    split_purchase          3-5 direct purchases (dispensa) by one agency, same object,
                            each below the art. 75 II limit of its date, together above,
                            within 25 days
    sanctioned_supplier     a contract signed while its supplier had an active sanction
    new_supplier            a supplier registered 1-30 days before its first contract
    price_outlier           an award whose unit price is 4-10x its catalog item's norm
    concentration           an agency whose spending goes 70 % to one supplier
    benford                 an agency whose values have uniform first digits
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import cast

import numpy as np
import numpy.typing as npt

from cidadao_gql.ingestion.dataset import Dataset, Table
from cidadao_gql.ingestion.vocabulary import (
    CATALOGUE,
    CATALOGUE_CODES,
    CATEGORIES,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    DESTINATIONS,
    FEDERAL,
    FIRST_NAMES,
    LAST_NAMES,
    MODALITIES,
    MODALITY_WEIGHTS,
    STATE_AREAS,
    TOWN_PREFIXES,
    TOWN_STEMS,
    UF_WEIGHTS,
    UFS,
    object_texts,
    product_bought,
)  # fmt: skip
from cidadao_gql.law import ART_75_I, DIRECT_PURCHASE_LIMITS
from cidadao_gql.objects import classify_object
from cidadao_gql.taxids import complete_cnpj, complete_cpf

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

START, END = date(2021, 4, 1), date(2025, 12, 31)
_EPOCH = np.datetime64("1970-01-01", "D")
_STRIDE = 7_919_233  # odd and not a multiple of 5: coprime with every 2^a * 5^b

_PURCHASES = np.array(
    [i for i, (verb, _) in enumerate(CATEGORIES) if classify_object(verb) not in ART_75_I]
)


@dataclass(frozen=True, slots=True)
class Scale:
    contracts: int
    agencies: int
    suppliers: int
    procurements: int
    catalog: int

    @classmethod
    def for_contracts(cls, contracts: int) -> Scale:
        procurements = max(10, contracts // 10)
        return cls(
            contracts=contracts,
            agencies=max(20, contracts // 500),
            suppliers=max(100, contracts // 20),
            procurements=procurements,
            catalog=max(10, procurements // 60),
        )


def _dates(days: Ints) -> list[date]:
    return cast(list[date], days.astype("datetime64[D]").tolist())


def _day(d: date) -> int:
    return int((np.datetime64(d, "D") - _EPOCH).astype(np.int64))


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> Floats:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def _seasonal_days(n: int, rng: np.random.Generator) -> Ints:
    days = np.arange(_day(START), _day(END) + 1)
    as_dates = days.astype("datetime64[D]")
    months = as_dates.astype("datetime64[M]").astype(np.int64) % 12
    weekdays = (days + 3) % 7  # 1970-01-01 was a Thursday; 5 and 6 are the weekend
    month_factor = np.array([0.6, 0.8, 1.0, 1.0, 1.0, 1.0, 0.9, 1.0, 1.0, 1.1, 1.3, 1.6])
    weights = month_factor[months] * np.where(weekdays >= 5, 0.15, 1.0)
    return rng.choice(days, size=n, p=weights / weights.sum())


def _limit_ii(days: Ints) -> Floats:
    starts = np.array([_day(lim.in_force_from) for lim in DIRECT_PURCHASE_LIMITS])
    values = np.array([float(lim.other_services_and_purchases) for lim in DIRECT_PURCHASE_LIMITS])
    return values[np.maximum(np.searchsorted(starts, days, side="right") - 1, 0)]


def _unique_roots(n: int, low: int, span: int, rng: np.random.Generator) -> Ints:
    offset = int(rng.integers(span))
    return low + (offset + np.arange(n, dtype=np.int64) * _STRIDE) % span


def _agencies(
    scale: Scale, base: int, rng: np.random.Generator
) -> tuple[Table, npt.NDArray[np.str_]]:
    n = scale.agencies
    roots = _unique_roots(n, 90_000_000, 10_000_000, rng)
    spheres = rng.choice(np.array(["M", "E", "F"]), size=n, p=[0.7, 0.2, 0.1])
    ufs = rng.choice(UFS, size=n, p=UF_WEIGHTS / UF_WEIGHTS.sum())
    towns = [
        f"{TOWN_PREFIXES[i % len(TOWN_PREFIXES)]} {TOWN_STEMS[(i // len(TOWN_PREFIXES)) % len(TOWN_STEMS)]}"
        for i in rng.integers(0, 10_000, size=n)
    ]
    names = []
    for i in range(n):
        if spheres[i] == "M":
            names.append(f"MUNICÍPIO DE {towns[i].upper()} ({i + 1})")
        elif spheres[i] == "E":
            names.append(f"SECRETARIA DE ESTADO DE {STATE_AREAS[i % len(STATE_AREAS)]} - {ufs[i]}")
        else:
            names.append(f"{FEDERAL[i % len(FEDERAL)]} - {ufs[i]} ({i + 1})")
    table = Table(
        ["id", "cnpj", "name", "sphere", "power", "uf", "municipality", "ibge_code"],
        [
            np.arange(base + 1, base + n + 1).tolist(),
            [complete_cnpj(f"{r:08d}0001") for r in roots],
            names,
            spheres.tolist(),
            ["E"] * n,
            ufs.tolist(),
            towns,
            [f"{c:07d}" for c in rng.integers(1_100_000, 5_300_000, size=n)],
        ],
    )
    return table, ufs


def _suppliers(
    scale: Scale, base: int, rng: np.random.Generator
) -> tuple[Table, npt.NDArray[np.bool_]]:
    n = scale.suppliers
    is_person = rng.random(n) < 0.1
    roots = _unique_roots(n, 10_000_000, 80_000_000, rng)
    cpf_bases = _unique_roots(n, 100_000_000, 800_000_000, rng)
    documents = [
        complete_cpf(f"{cpf_bases[i]:09d}")
        if is_person[i]
        else complete_cnpj(f"{roots[i]:08d}0001")
        for i in range(n)
    ]
    words = rng.integers(0, len(COMPANY_WORDS), size=(n, 2))
    suffixes = rng.integers(0, len(COMPANY_SUFFIXES), size=n)
    people = rng.integers(0, 1000, size=(n, 2))
    names = [
        f"{FIRST_NAMES[people[i, 0] % len(FIRST_NAMES)]} {LAST_NAMES[people[i, 1] % len(LAST_NAMES)]}"
        if is_person[i]
        else f"{COMPANY_WORDS[words[i, 0]]} {COMPANY_WORDS[words[i, 1]]} {COMPANY_SUFFIXES[suffixes[i]]}"
        for i in range(n)
    ]
    sizes = np.where(
        is_person, "NI", rng.choice(np.array(["ME", "EPP", "DEMAIS"]), size=n, p=[0.45, 0.2, 0.35])
    )
    natures = np.where(is_person, "Pessoa Física", "Sociedade Empresária Limitada")
    table = Table(
        ["id", "document", "kind", "name", "size", "legal_nature", "registered_on"],
        [
            np.arange(base + 1, base + n + 1).tolist(),
            documents,
            np.where(is_person, "PF", "PJ").tolist(),
            names,
            sizes.tolist(),
            natures.tolist(),
            [],  # filled once first contracts are known
        ],
    )
    return table, is_person


def generate(scale: Scale, seed: int, base: dict[str, int] | None = None) -> Dataset:
    """The whole data set in memory. `base` holds the current maximum id of each table."""
    base = base or {}
    rng = np.random.default_rng(seed)
    # Draws added since the data set was first made come from their own stream, so the
    # main one, and every row it made, stays as it was.
    detail = np.random.default_rng([seed, 17])
    out = Dataset()
    n = scale.contracts
    agencies, agency_ufs = _agencies(scale, base.get("agencies", 0), rng)
    suppliers, _ = _suppliers(scale, base.get("suppliers", 0), rng)

    agency = rng.choice(scale.agencies, size=n, p=_zipf_weights(scale.agencies, 0.8, rng))
    supplier = rng.choice(scale.suppliers, size=n, p=_zipf_weights(scale.suppliers, 1.1, rng))
    signed = _seasonal_days(n, rng)
    modality = rng.choice(MODALITIES, size=n, p=MODALITY_WEIGHTS)
    initial = np.round(np.maximum(rng.lognormal(10.3, 1.5, n), 50.0), 2).astype(np.float64)
    dispensa = modality == 8
    # Direct purchases stay under half the art. 75 II limit; one drawn above it is drawn
    # again below it (`detail`), not set to the cap: clipping gave hundreds of contracts of
    # unrelated agencies the same R$ 31,362.80 (half of R$ 62,725.59).
    cap = 0.5 * _limit_ii(signed[dispensa])
    direct = rng.lognormal(9.0, 1.0, dispensa.sum())
    over = direct > cap
    direct[over] = cap[over] * detail.uniform(0.2, 0.5, over.sum())
    initial[dispensa] = np.round(direct, 2)
    amended = rng.random(n) < 0.35
    final = np.where(amended, np.floor(initial * rng.uniform(1.0, 1.25, n) * 100) / 100, initial)
    category = rng.integers(0, len(CATEGORIES), size=n)
    product = rng.integers(0, 6, size=n)
    destination = rng.integers(0, len(DESTINATIONS), size=n)
    objects = object_texts(category, product, destination)

    _plant_agency_patterns(out, rng, agency, supplier, initial, final, scale, base)
    _plant_contract_patterns(
        out, rng, agency, supplier, signed, modality, initial, final, objects, base
    )

    contract_ids = np.arange(base.get("contracts", 0) + 1, base.get("contracts", 0) + n + 1)
    agency_ids = agency + base.get("agencies", 0) + 1
    supplier_ids = supplier + base.get("suppliers", 0) + 1
    procurement_of = _procurements(out, rng, scale, base, agencies, agency, supplier_ids, signed,
                                   modality, initial, objects, category, product)  # fmt: skip
    starts = signed + rng.integers(0, 15, n)
    out.tables["contracts"] = Table(
        ["id", "agency_id", "supplier_id", "procurement_id", "number", "object", "modality", "uf",
         "initial_value", "final_value", "signed_on", "starts_on", "ends_on", "metadata"],
        [
            contract_ids.tolist(), agency_ids.tolist(), supplier_ids.tolist(), procurement_of,
            [f"{i % 100_000:05d}/{d.year}" for i, d in zip(range(n), _dates(signed), strict=True)],
            objects, modality.tolist(), agency_ufs[agency].tolist(), initial.tolist(), final.tolist(),
            _dates(signed), _dates(starts), _dates(starts + rng.integers(90, 730, n)),
            [{"source": "synthetic", "category": CATEGORIES[c][0]} for c in category.tolist()],
        ],
    )  # fmt: skip
    _registrations(out, rng, suppliers, supplier, signed, base)
    out.tables["agencies"] = agencies
    out.tables["suppliers"] = suppliers
    _sanctions(out, rng, suppliers, supplier, signed, contract_ids)
    return out


def _plant_agency_patterns(
    out: Dataset, rng: np.random.Generator, agency: Ints, supplier: Ints, initial: Floats,
    final: Floats, scale: Scale, base: dict[str, int],
) -> None:  # fmt: skip
    """Concentration and Benford anomalies, on busy agencies (they need a sample)."""
    counts = np.bincount(agency, minlength=scale.agencies)
    busy = np.flatnonzero(counts >= 100)
    chosen = rng.permutation(busy)[: max(6, scale.agencies // 10)]
    half = len(chosen) // 2
    for a in chosen[:half]:
        rows = np.flatnonzero(agency == a)
        favourite = supplier[rows[0]]
        taken = rows[rng.random(len(rows)) < 0.7]
        supplier[taken] = favourite
        out.plant("concentration", "agency", np.array([a + base.get("agencies", 0) + 1]),
                  supplier_id=int(favourite) + base.get("suppliers", 0) + 1)  # fmt: skip
    for a in chosen[half:]:
        rows = np.flatnonzero(agency == a)
        values = np.round(
            rng.uniform(1.0, 10.0, len(rows)) * 10.0 ** rng.integers(3, 6, len(rows)), 2
        )
        initial[rows] = values
        final[rows] = values
        out.plant("benford", "agency", np.array([a + base.get("agencies", 0) + 1]))


def _plant_contract_patterns(
    out: Dataset, rng: np.random.Generator, agency: Ints, supplier: Ints, signed: Ints,
    modality: Ints, initial: Floats, final: Floats, objects: list[str], base: dict[str, int],
) -> None:  # fmt: skip
    n = len(agency)
    first_id = base.get("contracts", 0) + 1
    pool = iter(rng.permutation(n).tolist())

    def take(k: int) -> Ints:
        return np.array([next(pool) for _ in range(k)], dtype=np.int64)

    over = take(max(3, n // 300))
    final[over] = np.round(initial[over] * rng.uniform(1.3, 2.0, len(over)), 2)
    out.plant("amendment_over_ceiling", "contract", over + first_id)

    for _ in range(max(3, n // 500)):
        original, copy = take(2)
        agency[copy], supplier[copy], modality[copy] = (
            agency[original],
            supplier[original],
            modality[original],
        )
        objects[copy] = objects[original]
        signed[copy] = min(signed[original] + int(rng.integers(1, 60)), _day(END))
        initial[copy] = final[copy] = round(float(initial[original]) * rng.uniform(0.995, 1.005), 2)
        final[original] = initial[original]
        out.plant("near_duplicate", "contract", np.array([copy + first_id]),
                  duplicate_of=int(original) + first_id)  # fmt: skip

    for cluster in range(max(3, n // 1000)):
        rows = take(int(rng.integers(3, 6)))
        day0 = int(rng.integers(_day(START), _day(END) - 30))
        days = day0 + np.sort(rng.integers(0, 25, len(rows)))
        limit = _limit_ii(days)
        shares = rng.uniform(0.45, 0.9, len(rows))
        while (shares * limit).sum() <= limit[0] * 1.1:
            shares = np.minimum(shares * 1.2, 0.95)
        agency[rows] = agency[rows[0]]
        modality[rows] = 8
        signed[rows] = days
        initial[rows] = final[rows] = np.round(shares * limit, 2)
        # A purchase (art. 75 II), not works or vehicle maintenance (art. 75 I).
        (text,) = object_texts(
            rng.choice(_PURCHASES, size=1),
            rng.integers(0, 6, 1),
            rng.integers(0, len(DESTINATIONS), 1),
        )
        for r in rows:
            objects[r] = text
        out.plant("split_purchase", "contract", rows + first_id, cluster=cluster)


def _procurements(
    out: Dataset, rng: np.random.Generator, scale: Scale, base: dict[str, int], agencies: Table,
    agency: Ints, supplier_ids: Ints, signed: Ints, modality: Ints, initial: Floats,
    objects: list[str], category: Ints, product: Ints,
) -> list[int | None]:  # fmt: skip
    """Competitive contracts get the procurement they came from, with items and awards."""
    competitive = np.flatnonzero((modality != 8) & (modality != 9))[: scale.procurements]
    p = len(competitive)
    first = base.get("procurements", 0) + 1
    ids = np.arange(first, first + p)
    procurement_of: list[int | None] = [None] * len(agency)
    for row, pid in zip(competitive.tolist(), ids.tolist(), strict=True):
        procurement_of[row] = pid
    published = signed[competitive] - rng.integers(20, 60, p)
    opening = published + rng.integers(8, 15, p)
    cnpjs = agencies.data[1]
    year = (
        signed[competitive].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    )
    pub_ts = (
        published.astype("datetime64[D]").astype("datetime64[s]") + np.timedelta64(10, "h")
    ).tolist()
    open_ts = (
        opening.astype("datetime64[D]").astype("datetime64[s]") + np.timedelta64(9, "h")
    ).tolist()
    close_ts = [t + timedelta(days=1) for t in open_ts]
    out.tables["procurements"] = Table(
        ["id", "pncp_control_number", "agency_id", "year", "sequence", "number", "modality",
         "status", "object", "estimated_total", "homologated_total", "uf", "published_at",
         "opening_at", "closing_at", "metadata"],
        [
            ids.tolist(),
            [f"{cnpjs[a]}-1-{pid % 1_000_000:06d}/{y}" for a, pid, y in zip(agency[competitive].tolist(), ids.tolist(), year.tolist(), strict=True)],
            (agency[competitive] + base.get("agencies", 0) + 1).tolist(), year.tolist(),
            (ids % 1_000_000).tolist(), [f"{pid % 10_000:04d}/{y}" for pid, y in zip(ids.tolist(), year.tolist(), strict=True)],
            modality[competitive].tolist(), [1] * p, [objects[r] for r in competitive.tolist()],
            np.round(initial[competitive] * rng.uniform(1.0, 1.3, p), 2).tolist(),
            initial[competitive].tolist(), [agencies.data[5][a] for a in agency[competitive].tolist()],
            pub_ts, open_ts, close_ts, [{"source": "synthetic"}] * p,
        ],
    )  # fmt: skip
    _items_and_awards(out, rng, scale, base, ids, supplier_ids[competitive], signed[competitive],
                      category[competitive], product[competitive])  # fmt: skip
    return procurement_of


def _items_and_awards(
    out: Dataset, rng: np.random.Generator, scale: Scale, base: dict[str, int], procurement_ids: Ints,
    supplier_ids: Ints, signed: Ints, category: Ints, product: Ints,
) -> None:  # fmt: skip
    per = rng.integers(1, 5, len(procurement_ids))
    owner = np.repeat(np.arange(len(procurement_ids)), per)
    number = (
        np.concatenate([np.arange(1, k + 1) for k in per.tolist()])
        if len(per)
        else np.array([], dtype=np.int64)
    )
    m = len(owner)
    # Catalog items belong to a category, so a procurement buys related things.
    code_category = rng.integers(0, len(CATEGORIES), scale.catalog)
    code_price = np.round(rng.lognormal(3.0, 1.5, scale.catalog), 4)
    rng.integers(0, 7, scale.catalog)  # once units; drawn still, to keep the stream
    by_category = [np.flatnonzero(code_category == c) for c in range(len(CATEGORIES))]
    codes = np.array([
        rng.choice(by_category[c]) if len(by_category[c]) else int(rng.integers(scale.catalog))
        for c in category[owner].tolist()
    ], dtype=np.int64)  # fmt: skip
    quantity = np.round(rng.lognormal(5.0, 1.2, m))
    estimated = np.round(code_price[codes] * rng.uniform(0.9, 1.3, m), 4)
    price = np.round(code_price[codes] * rng.lognormal(0.0, 0.12, m), 4)
    outliers = rng.permutation(m)[: max(3, m // 200)]
    price[outliers] = np.round(
        code_price[codes[outliers]] * rng.uniform(4.0, 10.0, len(outliers)), 4
    )
    item_ids = np.arange(base.get("items", 0) + 1, base.get("items", 0) + m + 1)
    award_ids = np.arange(base.get("awards", 0) + 1, base.get("awards", 0) + m + 1)
    out.plant("price_outlier", "award", award_ids[outliers])
    # What is bought: the procurement's own product first, then others of its category; the
    # draws above give each item its noise (the ratio to its code's norm, outliers among
    # them), carried over to the product's own price, unit and usual quantity.
    names = [product_bought(c, p, k) for c, p, k in
             zip(category[owner].tolist(), product[owner].tolist(), number.tolist(), strict=True)]  # fmt: skip
    entries = [CATALOGUE[name] for name in names]
    norm = np.array([e[2] for e in entries])
    estimated = np.round(norm * estimated / code_price[codes], 4)
    price = np.round(norm * price / code_price[codes], 4)
    quantity = np.maximum(1.0, np.round(quantity * np.array([e[4] for e in entries])))
    out.tables["items"] = Table(
        ["id", "procurement_id", "number", "description", "catalog_code", "unit", "quantity",
         "estimated_unit_price", "estimated_total", "material_or_service"],
        [
            item_ids.tolist(), procurement_ids[owner].tolist(), number.tolist(),
            [e[0] for e in entries], [CATALOGUE_CODES[name] for name in names], [e[1] for e in entries],
            quantity.tolist(), estimated.tolist(), np.round(quantity * estimated, 2).tolist(),
            [e[3] for e in entries],
        ],
    )  # fmt: skip
    out.tables["awards"] = Table(
        ["id", "item_id", "supplier_id", "sequence", "quantity", "unit_price", "total",
         "awarded_on", "status"],
        [
            award_ids.tolist(), item_ids.tolist(), supplier_ids[owner].tolist(), [1] * m,
            quantity.tolist(), price.tolist(), np.round(quantity * price, 2).tolist(),
            _dates(signed[owner] - rng.integers(0, 5, m)), ["Informado"] * m,
        ],
    )  # fmt: skip


def _registrations(
    out: Dataset, rng: np.random.Generator, suppliers: Table, supplier: Ints, signed: Ints,
    base: dict[str, int],
) -> None:  # fmt: skip
    """Registration dates: long before the first contract, except for the planted ones."""
    n = len(suppliers.data[0])
    first = np.full(n, _day(END) + 365, dtype=np.int64)
    np.minimum.at(first, supplier, signed)
    registered = first - rng.integers(365, 20 * 365, n)
    active = np.flatnonzero(first <= _day(END))
    recent = rng.permutation(active)[: max(3, len(active) // 200)]
    registered[recent] = first[recent] - rng.integers(1, 31, len(recent))
    suppliers.data[6] = _dates(registered)
    out.plant("new_supplier", "supplier", recent + base.get("suppliers", 0) + 1)


def _sanctions(
    out: Dataset, rng: np.random.Generator, suppliers: Table, supplier: Ints, signed: Ints,
    contract_ids: Ints,
) -> None:  # fmt: skip
    """Sanctions on 2 % of suppliers; the contracts signed inside one are the ground truth."""
    n = len(suppliers.data[0])
    sanctioned = rng.permutation(n)[: max(3, n // 50)]
    starts = rng.integers(_day(START), _day(END) - 90, len(sanctioned))
    ends = starts + rng.integers(180, 1095, len(sanctioned))
    open_ended = rng.random(len(sanctioned)) < 0.2
    registers = rng.choice(np.array(["CEIS", "CNEP"]), size=len(sanctioned), p=[0.8, 0.2])
    documents = suppliers.data[1]
    out.tables["sanctions"] = Table(
        ["supplier_document", "register", "starts_on", "ends_on", "authority", "reason"],
        [
            [documents[s] for s in sanctioned.tolist()], registers.tolist(), _dates(starts),
            [None if o else d for o, d in zip(open_ended.tolist(), _dates(ends), strict=True)],
            ["Controladoria-Geral da União"] * len(sanctioned),
            ["Inidoneidade para licitar e contratar"] * len(sanctioned),
        ],
    )  # fmt: skip
    window_end = np.where(open_ended, np.iinfo(np.int64).max, ends)
    by_supplier = dict(
        zip(
            sanctioned.tolist(), zip(starts.tolist(), window_end.tolist(), strict=True), strict=True
        )
    )
    hit = [
        i for i, (s, d) in enumerate(zip(supplier.tolist(), signed.tolist(), strict=True))
        if s in by_supplier and by_supplier[s][0] <= d <= by_supplier[s][1]
    ]  # fmt: skip
    out.plant("sanctioned_supplier", "contract", contract_ids[np.array(hit, dtype=np.int64)])
