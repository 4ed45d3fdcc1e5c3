"""Descriptions for what the types' own code leaves undescribed: the parts every list shares
(pages, edges, `first`, `after`, `filter`), enum values, and a few fields whose meaning is
plain from their name to a programmer but not to a journalist. Applied to the built schema
(`describe`), so the docs pane, the explorer and `schema.graphql` carry them; a description
written beside the code wins over these."""

from __future__ import annotations

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
)

# A type or field ("Type", "Type.field", "*.field" for any type) without a description of
# its own. Connections and edges are described by their shape (see _shape).
FIELDS = {
    "PageInfo.hasNextPage": "Whether more rows follow this page: if so, ask again with"
    " `after` set to `endCursor`.",
    "PageInfo.hasPreviousPage": "Whether rows come before this page.",
    "PageInfo.startCursor": "The cursor of this page's first row.",
    "PageInfo.endCursor": "The cursor of this page's last row: pass it as `after` for the"
    " next page.",
    "*.edges": "The rows of this page, each with its cursor.",
    "*.pageInfo": "Where this page sits in the whole list, and how to ask for the next.",
    "*.node": "The row.",
    "AgencyFilter": "Which agencies (órgãos) to list; every field given must hold.",
    "AgencyFilter.uf": "Only agencies of this state (UF).",
    "AgencyFilter.sphere": "Only agencies of this sphere (esfera): federal, state or municipal.",
    "SupplierFilter": "Which suppliers (fornecedores) to list; every field given must hold.",
    "SanctionFilter": "Which sanctions (sanções) to list; every field given must hold.",
    "ContractOrder": "How to order contracts: by which field, in which direction.",
    "ContractOrder.field": "What to order by.",
    "ContractOrder.direction": "Smallest or oldest first (ASC), or largest or newest (DESC).",
    "ContractOrderField": "What contracts can be ordered by.",
    "ContractOrderField.SIGNED_ON": "The day the contract was signed (data de assinatura).",
    "ContractOrderField.VALUE": "The contract's final value (valor global).",
    "OrderDirection": "Ascending (ASC) or descending (DESC).",
    "OrderDirection.ASC": "Smallest, oldest or first in the alphabet first.",
    "OrderDirection.DESC": "Largest, newest or last in the alphabet first.",
    "ApiKey.id": "The key's identifier (not the secret).",
    "ApiKey.prefix": "The first characters of the secret, to tell keys apart.",
    "ApiKey.scopes": "What the key may do: read, investigate, admin.",
    "ApiKey.createdAt": "When the key was made.",
    "ApiKey.expiresAt": "When the key stops working; none if it does not.",
    "ApiKey.revokedAt": "When the key was revoked; none if it was not.",
    "Viewer.id": "Who is asking: the API key's or the session's user.",
    "Viewer.scopes": "What the one asking may do: read, investigate, admin.",
    "Award.item": "The item (item da contratação) this award is for.",
    "Award.supplier": "The supplier (fornecedor) that won the item.",
    "Contract.agency": "The agency (órgão) that signed the contract.",
    "Contract.supplier": "The supplier (fornecedor, contratado) that signed the contract.",
    "Item.procurement": "The procurement (contratação) this item belongs to.",
    "Procurement.agency": "The agency (órgão) that published the procurement.",
    "Investigation.id": "The investigation's identifier: follow it with"
    " `investigationEvents(id:)`.",
    "Investigation.status": "Where the investigation is: pending, running, completed...",
    "Investigation.agents": "The agents that look at the contracts, each for one kind of"
    " problem (prices out of line, split purchases, a sanctioned supplier...).",
    "Investigation.target": "The contracts it looks at (agencies, suppliers, dates).",
    "Investigation.createdAt": "When it was asked for.",
    "Investigation.startedAt": "When its agents started; none while it waits.",
    "Investigation.finishedAt": "When it ended; none while it runs.",
    "InvestigationStatus": "Where an investigation is in its life.",
    "InvestigationStatus.PENDING": "Asked for, waiting for a free worker.",
    "InvestigationStatus.RUNNING": "Its agents are at work.",
    "InvestigationStatus.COMPLETED": "Done: its findings are all there.",
    "InvestigationStatus.FAILED": "Stopped by an error; its findings so far are kept.",
    "InvestigationStatus.CANCELLED": "Stopped by whoever asked for it.",
    "InvestigationEvent.kind": "What happened.",
    "InvestigationEventKind": "What can happen to an investigation, in order.",
    "InvestigationEventKind.CREATED": "It was asked for (its payload names its agents).",
    "InvestigationEventKind.STARTED": "Its agents started.",
    "InvestigationEventKind.PROGRESS": "Part of the work is done (see `progress`).",
    "InvestigationEventKind.FINDING": "An agent found something (see `payload`).",
    "InvestigationEventKind.FINISHED": "It ended (see its status).",
    "InvestigationEvents.investigationId": "The investigation these events are of.",
    "InvestigationEvents.events": "The events since the last batch, oldest first.",
    "InvestigationFinding.agent": "The agent that found it.",
    "InvestigationFinding.kind": "What kind of problem it is (sobrepreço: price out of line;"
    " fracionamento: split purchase; a sanctioned supplier...).",
    "InvestigationFinding.severity": "How serious: low, medium, high or critical (from `score`).",
    "InvestigationFinding.score": "How strong the signal is, from 0 (weak) to 1 (strong).",
    "InvestigationFinding.summary": "The finding in one sentence.",
    "InvestigationFinding.evidence": "The figures behind it (prices, dates, sums), as the"
    " agent measured them.",
    "InvestigationFinding.supplierIds": "The suppliers (fornecedores) involved.",
    "InvestigationFinding.agencyIds": "The agencies (órgãos) involved.",
    "InvestigationFinding.awardIds": "The awards (resultados) involved.",
    "InvestigationTarget.agencies": "Only contracts of these agencies (global IDs).",
    "InvestigationTarget.suppliers": "Only contracts of these suppliers (global IDs).",
    "InvestigationTarget.signedFrom": "Only contracts signed on or after this day.",
    "InvestigationTarget.signedTo": "Only contracts signed on or before this day.",
    "PersonKind.PJ": "A company (pessoa jurídica, CNPJ).",
    "PersonKind.PF": "A person (pessoa física, CPF).",
    "Power.EXECUTIVE": "Executive (Executivo).",
    "Power.LEGISLATIVE": "Legislative (Legislativo).",
    "Power.JUDICIARY": "Judiciary (Judiciário).",
    "Power.NOT_INFORMED": "Not informed by the source.",
    "Sphere.FEDERAL": "Federal (União).",
    "Sphere.STATE": "A state's (estadual).",
    "Sphere.MUNICIPAL": "A town's (municipal).",
    "Sphere.NOT_INFORMED": "Not informed by the source.",
    "ProcurementStatus.PUBLISHED": "Published (divulgada) and standing.",
    "ProcurementStatus.REVOKED": "Revoked (revogada) by the agency.",
    "ProcurementStatus.ANNULLED": "Annulled (anulada) for an illegality.",
    "ProcurementStatus.SUSPENDED": "Suspended (suspensa) for now.",
    "SpendingGroupBy.AGENCY": "One group per agency (órgão).",
    "SpendingGroupBy.SUPPLIER": "One group per supplier (fornecedor).",
    "SpendingGroupBy.MONTH": "One group per month of signature.",
    "SpendingGroupBy.YEAR": "One group per year of signature.",
    "SpendingGroupBy.MODALITY": "One group per modality (pregão, dispensa...).",
    "SpendingGroupBy.UF": "One group per state (UF).",
    "SpendingGroupBy.SPHERE": "One group per sphere (esfera) of the agency: federal, state...",
    "SpendingOrderField.TOTAL": "By the sum of final values.",
    "SpendingOrderField.COUNT": "By the number of contracts.",
    "SpendingOrderField.KEY": "By the key: months and years in calendar order, agencies and"
    " suppliers as recorded, modalities by PNCP code, states and spheres by their letters.",
    "SpendingOrder.field": "What to order by.",
    "SpendingOrder.direction": "ASC (smallest, earliest first) or DESC.",
}
# The library's own text, written for programmers.
REPLACED = {
    "JSON": "Data in JSON form (objects, lists, numbers, text): figures an agent measured,"
    " or what an event carries.",
}
UFS = {
    "AC": "Acre", "AL": "Alagoas", "AM": "Amazonas", "AP": "Amapá", "BA": "Bahia",
    "CE": "Ceará", "DF": "Distrito Federal", "ES": "Espírito Santo", "GO": "Goiás",
    "MA": "Maranhão", "MG": "Minas Gerais", "MS": "Mato Grosso do Sul", "MT": "Mato Grosso",
    "PA": "Pará", "PB": "Paraíba", "PE": "Pernambuco", "PI": "Piauí", "PR": "Paraná",
    "RJ": "Rio de Janeiro", "RN": "Rio Grande do Norte", "RO": "Rondônia", "RR": "Roraima",
    "RS": "Rio Grande do Sul", "SC": "Santa Catarina", "SE": "Sergipe", "SP": "São Paulo",
    "TO": "Tocantins",
}  # fmt: skip
ARGUMENTS = {
    "first": "How many rows to answer (a page); at most 100.",
    "after": "Answer the rows after this cursor (a previous page's `pageInfo.endCursor`).",
    "filter": "Only the rows that match every field given here.",
    "orderBy": "The order of the rows.",
    "id": "The identifier, as an earlier answer gave it.",
    "target": "Which contracts to look at.",
    "agents": "Which agents to run (see `Investigation.agents`); all when not given.",
    "groupBy": "What to sum by: agency, supplier, month, year, modality, state or sphere.",
    # the cost directives' (schema.cost_tables)
    "weight": "What the field costs, in points, each time it is answered.",
    "assumedSize": "The list's size when no argument gives it.",
    "slicingArguments": "The arguments that give the list's size (`first`).",
    "sizedFields": "The fields of the answer that hold the list (`nodes`, `edges`).",
}


def _shape(name: str) -> str | None:
    for suffix, text in (
        ("Connection", "A page of {} (a list answered in pages): its rows as `nodes` or"
         " `edges`, where it sits (`pageInfo`) and the size of the whole list (`totalCount`)."),
        ("Edge", "One row of a page of {}, with its cursor."),
    ):  # fmt: skip
        if name.endswith(suffix) and name != suffix:
            return text.format(name.removesuffix(suffix))
    return None


def describe(schema: GraphQLSchema) -> None:
    """Fill in the descriptions above wherever the code gave none. Idempotent."""
    for name, kind in schema.type_map.items():
        if name.startswith("__"):
            continue
        if name in REPLACED:
            kind.description = REPLACED[name]
        kind.description = kind.description or FIELDS.get(name) or _shape(name)
        if isinstance(kind, GraphQLEnumType):
            for value_name, value in kind.values.items():
                text = FIELDS.get(f"{name}.{value_name}") or (
                    UFS.get(value_name) if name == "UF" else None
                )
                value.description = value.description or text
        if isinstance(kind, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in kind.fields.items():
                text = FIELDS.get(f"{name}.{field_name}") or FIELDS.get(f"*.{field_name}")
                field.description = field.description or text
                _arguments(getattr(field, "args", {}))
    for directive in schema.directives:
        _arguments(directive.args)


def _arguments(arguments: dict[str, GraphQLArgument]) -> None:
    for name, argument in arguments.items():
        argument.description = argument.description or ARGUMENTS.get(name)
