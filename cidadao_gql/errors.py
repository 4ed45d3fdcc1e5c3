"""Our exceptions. Each carries a stable `code`; GraphQL errors show it as `extensions.code`.

    CidadaoError
    ├── ConfigError              CONFIG_INVALID      (start-up only, never reaches a client)
    ├── MigrationError           MIGRATION_FAILED    (start-up and the CLI: one failed or changed)
    ├── BadUserInput             BAD_USER_INPUT
    │   ├── InvalidCursor        INVALID_CURSOR
    │   ├── InvalidPageSize      INVALID_PAGE_SIZE
    │   ├── InvalidTaxId         INVALID_DOCUMENT    (CNPJ/CPF check digits)
    │   ├── InvalidId            INVALID_ID          (global IDs, investigation ids)
    │   ├── InvalidTarget        INVALID_TARGET      an investigation's target
    │   └── PersistedQueryMismatch PERSISTED_QUERY_HASH_MISMATCH  a document not its hash's
    ├── Unauthenticated          UNAUTHENTICATED
    ├── Forbidden                FORBIDDEN
    ├── CsrfPrevented            CSRF_PREVENTED      a cookie on a request no browser preflighted
    ├── SessionsDisabled         SESSIONS_DISABLED   /session while SESSION_SECRET is unset
    ├── NotFound                 NOT_FOUND           no such investigation (of this user)
    ├── NotCancellable           NOT_CANCELLABLE     an investigation already finished
    ├── PersistedQueryNotFound   PERSISTED_QUERY_NOT_FOUND  a hash not known: send the document
    ├── TrustedDocumentRequired  TRUSTED_DOCUMENT_REQUIRED  a document not registered
    ├── QueryRejected                                (limits checked before execution)
    │   ├── QueryTooDeep         QUERY_TOO_DEEP      depth and maxDepth
    │   ├── TooManyAliases       TOO_MANY_ALIASES    aliases and maxAliases
    │   ├── TooManyFields        TOO_MANY_FIELDS     a name or fragment repeated past its limit
    │   ├── TooManyTokens        TOO_MANY_TOKENS     maxTokens
    │   └── QueryTooComplex      QUERY_TOO_COMPLEX   cost and maxCost
    ├── Throttled                THROTTLED           cost, currentlyAvailable, retryAfter
    ├── ServiceUnavailable       SERVICE_UNAVAILABLE (a dependency is down; retry shortly)
    │   ├── DatabaseUnavailable                      PostgreSQL lost the connection twice
    │   └── LimiterUnavailable                       the rate limiter's Redis is down
    ├── ServiceBusy              SERVICE_BUSY        the investigation queue is full
    ├── TooManySubscriptions     TOO_MANY_SUBSCRIPTIONS  WS_MAX_SUBSCRIPTIONS reached; maxSubscriptions
    ├── QueryTimeout             TIMEOUT             timeoutMs
    ├── DatabaseFailed           DATABASE_FAILED     (command line only) unreachable, refused   1
    ├── ImportFailed             IMPORT_FAILED       (command line only; ExitStatus on the right)
    │   ├── BadImportFile        IMPORT_BAD_FILE     missing file, column or rows; broken CSV 2
    │   ├── TooManyRejects       IMPORT_TOO_MANY_REJECTS                                  3
    │   └── UndecodableFile      IMPORT_UNDECODABLE  not text, or not in its encoding     4
    └── Refused                                      (HTTP: no GraphQL request to run; `status`)
        ├── BadRequest           BAD_REQUEST         400: body, parameters or operation choice
        │   └── PersistedQueryNotSupported PERSISTED_QUERY_NOT_SUPPORTED 400: a version not 1
        ├── WebSocketRequired    WEBSOCKET_REQUIRED  400: a subscription sent over HTTP
        ├── CorsRefused          CORS_REFUSED        400: a preflight of an origin, method or header not allowed
        ├── PathNotFound         NOT_FOUND           404: no such path
        ├── MethodNotAllowed     METHOD_NOT_ALLOWED  405, with `Allow`
        ├── ClientDisconnected   CLIENT_DISCONNECTED the client left before its body arrived (no answer)
        ├── NotAcceptable        NOT_ACCEPTABLE      406
        ├── BodyTimeout          BODY_TIMEOUT        408: the body not all sent in BODY_TIMEOUT s
        ├── PayloadTooLarge      PAYLOAD_TOO_LARGE   413, maxBytes
        ├── UnsupportedMediaType UNSUPPORTED_MEDIA_TYPE 415
        └── Overloaded           SERVICE_OVERLOADED  503, with `Retry-After`

Anything that is not a CidadaoError is masked from the client as INTERNAL_SERVER_ERROR
and logged with the request id.

The other tree changes course inside the package: each class is caught where the comment
says, so none reaches a client, and none carries a code.

    ControlFlow
    ├── BodyTooLarge             a body past MAX_BODY_BYTES: web/middleware.py answers 413
    ├── Fallback                 the compiled path cannot answer exactly: the ordinary one does
    ├── Unplannable              the compiled planner leaves an operation to the ordinary path
    ├── InvestigationCancelled   cancelled while its agents ran: the runner stops them
    ├── RowRejected              an import row we cannot use: its reason goes to the rejects file
    ├── BadValue                 (also a ValueError) a value its column cannot read: RowRejected
    ├── EdgeRefused              an edge cache answered a purge with other than 200: retried
    └── QueryFailed              `cidadao-gql query` got errors: the command fails with them
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class ExitStatus(IntEnum):
    """How the command line ends; scripts rely on these (README, Data), so they stay few
    and never change meaning. Click's own usage errors end with 2 as well."""

    OK = 0
    FAILED = 1  # anything else: the database unreachable or refusing, a failing API, ...
    BAD_FILE = 2  # a file missing, empty, without rows, lacking a column, not CSV; bad usage
    TOO_MANY_REJECTS = 3  # more rejected rows than --max-rejects allows
    UNDECODABLE = 4  # not text, or not in its encoding (detected or given)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it); nothing was written


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


class MigrationError(CidadaoError):
    code = "MIGRATION_FAILED"


class BadUserInput(CidadaoError):
    code = "BAD_USER_INPUT"


class InvalidCursor(BadUserInput):
    code = "INVALID_CURSOR"


class InvalidPageSize(BadUserInput):
    code = "INVALID_PAGE_SIZE"


class InvalidTaxId(BadUserInput):
    code = "INVALID_DOCUMENT"


class InvalidId(BadUserInput):
    code = "INVALID_ID"


class InvalidTarget(BadUserInput):
    code = "INVALID_TARGET"


class PersistedQueryMismatch(BadUserInput):
    code = "PERSISTED_QUERY_HASH_MISMATCH"


class Unauthenticated(CidadaoError):
    code = "UNAUTHENTICATED"


class Forbidden(CidadaoError):
    code = "FORBIDDEN"


class CsrfPrevented(CidadaoError):
    code = "CSRF_PREVENTED"


class SessionsDisabled(CidadaoError):
    code = "SESSIONS_DISABLED"


class NotFound(CidadaoError):
    code = "NOT_FOUND"


class NotCancellable(CidadaoError):
    code = "NOT_CANCELLABLE"


class PersistedQueryNotFound(CidadaoError):
    # Apollo clients retry with the whole document on exactly this message and code.
    code = "PERSISTED_QUERY_NOT_FOUND"


class TrustedDocumentRequired(CidadaoError):
    code = "TRUSTED_DOCUMENT_REQUIRED"


class QueryRejected(CidadaoError):
    code = "QUERY_REJECTED"


class QueryTooDeep(QueryRejected):
    code = "QUERY_TOO_DEEP"


class TooManyAliases(QueryRejected):
    code = "TOO_MANY_ALIASES"


class TooManyFields(QueryRejected):
    code = "TOO_MANY_FIELDS"


class TooManyTokens(QueryRejected):
    code = "TOO_MANY_TOKENS"


class QueryTooComplex(QueryRejected):
    code = "QUERY_TOO_COMPLEX"


class Throttled(CidadaoError):
    code = "THROTTLED"

    def __init__(self, message: str, retry_after: float, **details: object) -> None:
        super().__init__(message, retryAfter=retry_after, **details)
        self.retry_after = retry_after


class ServiceUnavailable(CidadaoError):
    code = "SERVICE_UNAVAILABLE"


class DatabaseUnavailable(ServiceUnavailable):
    pass


class LimiterUnavailable(ServiceUnavailable):
    pass


class ServiceBusy(CidadaoError):
    code = "SERVICE_BUSY"


class TooManySubscriptions(CidadaoError):
    code = "TOO_MANY_SUBSCRIPTIONS"


class QueryTimeout(CidadaoError):
    code = "TIMEOUT"


class DatabaseFailed(CidadaoError):
    """The command line could not reach, or was refused by, its database; the message names
    the server and database and what failed."""

    code = "DATABASE_FAILED"
    exit_status: ClassVar[ExitStatus] = ExitStatus.FAILED


class ImportFailed(CidadaoError):
    """An import that loaded nothing; the message names the file and what to do."""

    code = "IMPORT_FAILED"
    exit_status: ClassVar[ExitStatus] = ExitStatus.FAILED


class BadImportFile(ImportFailed):
    code = "IMPORT_BAD_FILE"
    exit_status = ExitStatus.BAD_FILE


class TooManyRejects(ImportFailed):
    code = "IMPORT_TOO_MANY_REJECTS"
    exit_status = ExitStatus.TOO_MANY_REJECTS


class UndecodableFile(ImportFailed):
    code = "IMPORT_UNDECODABLE"
    exit_status = ExitStatus.UNDECODABLE


class Refused(CidadaoError):
    """A request refused at the HTTP layer, before any GraphQL runs; answered with `status`
    and `headers`."""

    status: ClassVar[int] = 400

    @property
    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(Refused):
    code = "BAD_REQUEST"


class PersistedQueryNotSupported(BadRequest):
    # Apollo's code for a persisted-query protocol the server does not speak.
    code = "PERSISTED_QUERY_NOT_SUPPORTED"


class WebSocketRequired(Refused):
    code = "WEBSOCKET_REQUIRED"


class CorsRefused(Refused):
    code = "CORS_REFUSED"


class PathNotFound(Refused):
    code = "NOT_FOUND"
    status = 404


class MethodNotAllowed(Refused):
    code = "METHOD_NOT_ALLOWED"
    status = 405

    def __init__(self, message: str, allow: str | None = None) -> None:
        super().__init__(message)
        self.allow = allow

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.allow is None else {"allow": self.allow}


class ClientDisconnected(Refused):
    """Counted under its own code, not as an internal error; no one reads the answer."""

    code = "CLIENT_DISCONNECTED"


class NotAcceptable(Refused):
    code = "NOT_ACCEPTABLE"
    status = 406


class BodyTimeout(Refused):
    code = "BODY_TIMEOUT"
    status = 408


class PayloadTooLarge(Refused):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class UnsupportedMediaType(Refused):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class Overloaded(Refused):
    code = "SERVICE_OVERLOADED"
    status = 503

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": "1"}


class ControlFlow(Exception):
    """Raised and caught inside the package to change course (the tree above says where)."""


class BodyTooLarge(ControlFlow):
    pass


class Fallback(ControlFlow):
    """The compiled path cannot give the exact answer; the ordinary path will."""


class Unplannable(ControlFlow):
    pass


class InvestigationCancelled(ControlFlow):
    pass


class RowRejected(ControlFlow):
    """A row we cannot use; the reason goes to the rejects file."""


class EdgeRefused(ControlFlow):
    """An edge answered a purge with something other than 200 (data/cache/edge.py retries)."""


class BadValue(ControlFlow, ValueError):
    """A value that is present but cannot be read as the type its column needs."""


class QueryFailed(ControlFlow):
    """The server answered errors for a variable set; the export stops there."""
