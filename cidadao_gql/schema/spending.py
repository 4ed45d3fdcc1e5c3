"""Spending aggregates: how much went where, under the same filters as `contracts`."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

import strawberry

from cidadao_gql.data.db import Record
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import ContractFilter, contract_where
from cidadao_gql.schema.enums import Modality
from cidadao_gql.schema.relay import check_page_size, encode_id


@strawberry.enum(
    description="What to add contracts up by: agency (órgão), supplier (fornecedor), month,"
    " modality (modalidade) or state (UF)."
)
class SpendingGroupBy(Enum):
    AGENCY = "AGENCY"
    SUPPLIER = "SUPPLIER"
    MONTH = "MONTH"
    MODALITY = "MODALITY"
    UF = "UF"


@strawberry.type(
    description="One group of contracts: how many, and their total final value in reais."
)
class SpendingGroup:
    key: str = strawberry.field(
        description="Global ID for AGENCY and SUPPLIER, YYYY-MM for MONTH, enum name otherwise."
    )
    label: str = strawberry.field(description="A name for people: agency or supplier name.")
    contract_count: int = strawberry.field(description="How many contracts.")
    total: Decimal = strawberry.field(description="Sum of their final values, in reais.")


def _group(group: SpendingGroupBy, row: Record) -> SpendingGroup:
    key, label = row["key"], row["label"]
    if group is SpendingGroupBy.AGENCY:
        key = encode_id("Agency", int(key))
    elif group is SpendingGroupBy.SUPPLIER:
        key = encode_id("Supplier", int(key))
    elif group is SpendingGroupBy.MODALITY:
        key = label = Modality(int(key)).name
    return SpendingGroup(
        key=key, label=label, contract_count=row["contract_count"], total=row["total"]
    )


@strawberry.type
class SpendingQueries:
    @strawberry.field(
        description="Contract spending grouped by agency, supplier, month, modality or UF:"
        " largest total first (months in calendar order), at most `first` groups."
    )
    async def spending(
        self,
        info: Info,
        group_by: SpendingGroupBy,
        filter: ContractFilter | None = None,
        first: int = 20,
    ) -> list[SpendingGroup]:
        check_page_size(first)
        rows = await info.context.loaders.spending(group_by.value, contract_where(filter), first)
        return [_group(group_by, r) for r in rows]
