"""Our exceptions. Each carries a stable `code`; GraphQL errors show it as `extensions.code`.

    CidadaoError
    ├── ConfigError              CONFIG_INVALID      (start-up only, never reaches a client)
    ├── BadUserInput             BAD_USER_INPUT
    │   ├── InvalidCursor        INVALID_CURSOR
    │   ├── InvalidPageSize      INVALID_PAGE_SIZE
    │   ├── InvalidDocument      INVALID_DOCUMENT    (CNPJ/CPF check digits)
    │   ├── InvalidId            INVALID_ID          (global IDs)
    │   └── InvalidFilter        INVALID_FILTER
    ├── Unauthenticated          UNAUTHENTICATED
    └── Forbidden                FORBIDDEN

Anything that is not a CidadaoError is masked from the client as INTERNAL_SERVER_ERROR
and logged with the request id.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CidadaoError(Exception):
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.details}


class ConfigError(CidadaoError):
    code = "CONFIG_INVALID"


class BadUserInput(CidadaoError):
    code = "BAD_USER_INPUT"


class InvalidCursor(BadUserInput):
    code = "INVALID_CURSOR"


class InvalidPageSize(BadUserInput):
    code = "INVALID_PAGE_SIZE"


class InvalidDocument(BadUserInput):
    code = "INVALID_DOCUMENT"


class InvalidId(BadUserInput):
    code = "INVALID_ID"


class InvalidFilter(BadUserInput):
    code = "INVALID_FILTER"


class Unauthenticated(CidadaoError):
    code = "UNAUTHENTICATED"


class Forbidden(CidadaoError):
    code = "FORBIDDEN"
