"""The fixed vocabularies of the data, as GraphQL enums. PNCP codes are the Python values."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Modalidade de contratação, with its PNCP code as value.")
class Modality(Enum):
    LEILAO_ELETRONICO = 1
    DIALOGO_COMPETITIVO = 2
    CONCURSO = 3
    CONCORRENCIA_ELETRONICA = 4
    CONCORRENCIA_PRESENCIAL = 5
    PREGAO_ELETRONICO = 6
    PREGAO_PRESENCIAL = 7
    DISPENSA = 8
    INEXIGIBILIDADE = 9
    MANIFESTACAO_DE_INTERESSE = 10
    PRE_QUALIFICACAO = 11
    CREDENCIAMENTO = 12
    LEILAO_PRESENCIAL = 13


@strawberry.enum(description="Situação da contratação in PNCP.")
class ProcurementStatus(Enum):
    PUBLISHED = 1
    REVOKED = 2
    ANNULLED = 3
    SUSPENDED = 4


@strawberry.enum(description="Federative unit (state or the Federal District).")
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


@strawberry.enum(description="Sphere of government: federal, state, municipal, or not informed.")
class Sphere(Enum):
    FEDERAL = "F"
    STATE = "E"
    MUNICIPAL = "M"
    NOT_INFORMED = "N"


@strawberry.enum(description="Branch of power: executive, legislative, judiciary, not informed.")
class Power(Enum):
    EXECUTIVE = "E"
    LEGISLATIVE = "L"
    JUDICIARY = "J"
    NOT_INFORMED = "N"


@strawberry.enum(description="Company size: micro (ME), small (EPP), others, not informed.")
class SupplierSize(Enum):
    ME = "ME"
    EPP = "EPP"
    DEMAIS = "DEMAIS"
    NOT_INFORMED = "NI"


@strawberry.enum(description="Legal person (CNPJ) or natural person (CPF).")
class PersonKind(Enum):
    PJ = "PJ"
    PF = "PF"


@strawberry.enum(description="Federal sanction register.")
class SanctionRegister(Enum):
    CEIS = "CEIS"
    CNEP = "CNEP"


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
