"""The fixed vocabularies of the data, as GraphQL enums. PNCP codes are the Python values."""

from __future__ import annotations

from enum import Enum

import strawberry


# Values described with strawberry.enum_value keep their codes at run time (Strawberry sets
# each member's value back), but mypy then types `.value` as EnumValueDefinition: the
# filters that read a code cast it.
@strawberry.enum(
    description="How the supplier is chosen (modalidade de contratação, Lei 14.133/2021)."
)
class Modality(Enum):
    LEILAO_ELETRONICO = strawberry.enum_value(
        1, description="Leilão eletrônico: an online auction (sells goods)."
    )
    DIALOGO_COMPETITIVO = strawberry.enum_value(
        2, description="Diálogo competitivo: solutions developed with bidders."
    )
    CONCURSO = strawberry.enum_value(
        3, description="Concurso: a contest for technical, scientific or artistic work."
    )
    CONCORRENCIA_ELETRONICA = strawberry.enum_value(
        4, description="Concorrência eletrônica: open tender, online (works, special services)."
    )
    CONCORRENCIA_PRESENCIAL = strawberry.enum_value(
        5, description="Concorrência presencial: open tender, in person."
    )
    PREGAO_ELETRONICO = strawberry.enum_value(
        6,
        description="Pregão eletrônico: an online reverse auction for common goods and services; the lowest bid wins.",
    )
    PREGAO_PRESENCIAL = strawberry.enum_value(
        7, description="Pregão presencial: a reverse auction in person."
    )
    DISPENSA = strawberry.enum_value(
        8,
        description="Dispensa de licitação: a direct purchase without a tender, allowed below the limits of art. 75 or in emergencies.",
    )
    INEXIGIBILIDADE = strawberry.enum_value(
        9, description="Inexigibilidade: no tender possible, a single supplier (art. 74)."
    )
    MANIFESTACAO_DE_INTERESSE = strawberry.enum_value(
        10, description="Manifestação de interesse: a call for studies and proposals."
    )
    PRE_QUALIFICACAO = strawberry.enum_value(
        11, description="Pré-qualificação: bidders or goods qualified ahead of tenders."
    )
    CREDENCIAMENTO = strawberry.enum_value(
        12, description="Credenciamento: every supplier meeting the terms is accepted."
    )
    LEILAO_PRESENCIAL = strawberry.enum_value(
        13, description="Leilão presencial: an auction in person."
    )


@strawberry.enum(description="Situation of a procurement in PNCP (situação da contratação).")
class ProcurementStatus(Enum):
    PUBLISHED = 1
    REVOKED = 2
    ANNULLED = 3
    SUSPENDED = 4


@strawberry.enum(description="A state (unidade federativa, UF) or the Federal District (DF).")
class UF(Enum):
    AC = "AC"
    AL = "AL"
    AM = "AM"
    AP = "AP"
    BA = "BA"
    CE = "CE"
    DF = "DF"
    ES = "ES"
    GO = "GO"
    MA = "MA"
    MG = "MG"
    MS = "MS"
    MT = "MT"
    PA = "PA"
    PB = "PB"
    PE = "PE"
    PI = "PI"
    PR = "PR"
    RJ = "RJ"
    RN = "RN"
    RO = "RO"
    RR = "RR"
    RS = "RS"
    SC = "SC"
    SE = "SE"
    SP = "SP"
    TO = "TO"


@strawberry.enum(
    description="Sphere of government (esfera): federal, state (estadual), municipal, or not informed."
)
class Sphere(Enum):
    FEDERAL = "F"
    STATE = "E"
    MUNICIPAL = "M"
    NOT_INFORMED = "N"


@strawberry.enum(
    description="Branch of power (poder): executive, legislative, judiciary, or not informed."
)
class Power(Enum):
    EXECUTIVE = "E"
    LEGISLATIVE = "L"
    JUDICIARY = "J"
    NOT_INFORMED = "N"


@strawberry.enum(description="Company size (porte da empresa).")
class SupplierSize(Enum):
    ME = strawberry.enum_value("ME", description="Microempresa: a micro company.")
    EPP = strawberry.enum_value("EPP", description="Empresa de pequeno porte: a small company.")
    DEMAIS = strawberry.enum_value("DEMAIS", description="Demais: any larger company.")
    NOT_INFORMED = strawberry.enum_value(
        "NI", description="Not informed (não informado), or a person."
    )


@strawberry.enum(description="A company (pessoa jurídica, CNPJ) or a person (pessoa física, CPF).")
class PersonKind(Enum):
    PJ = "PJ"
    PF = "PF"


@strawberry.enum(description="Federal register of sanctions, kept by the CGU.")
class SanctionRegister(Enum):
    CEIS = strawberry.enum_value(
        "CEIS",
        description="Cadastro de Empresas Inidôneas e Suspensas: barred from public contracts.",
    )
    CNEP = strawberry.enum_value(
        "CNEP",
        description="Cadastro Nacional de Empresas Punidas: punished under the Anti-Corruption Law.",
    )


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


def optional(enum: type[Enum], value: object) -> Enum | None:
    """The enum member for a database value, None for NULL or a code we do not know."""
    try:
        return None if value is None else enum(value)
    except ValueError:
        return None
