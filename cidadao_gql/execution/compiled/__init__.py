"""Compiled execution of read operations.

graphql-core resolves a response field by field, each through several layers of Python
(path bookkeeping, middleware, awaitable checks, completion by type); on a 100-row page of
contracts with their supplier and agency that is most of the request's CPU. For a query,
this module builds a plan once — per document, operation name and the values of the
Boolean variables that `@skip`/`@include` may read — that mirrors the selection set after
fragments are merged and directives applied, and then runs it level by level:

- a field without a resolver of its own reads the object's attribute;
- a relation marked plannable (relay.batched) calls its DataLoader's batch function once
  for every parent row of the level, through the same cache tiers; the run remembers what
  it loaded, by key, for the levels below;
- a connection marked plannable (relay.paged) fetches the pages of every parent of the
  level in one call, its arguments converted once per plan and set of variables, and its
  edges, page info and cursors are read from the rows only when selected (`pages`);
- any other field with a resolver calls that same resolver (with the same argument
  coercion), for every parent object of the level at once;
- values are completed as graphql-core completes them (`coerce_output_value` of scalars and
  enums, lists, `__typename`, the runtime type of an interface), into plain dicts in field
  order, which the view encodes with orjson.

A root list whose subtree holds only columns, ids, relations by id and connections of
children is not run level by level but written as one SQL statement whose JSON PostgreSQL
builds (`tree`), all such root fields of the operation together: one round trip where the
levels send one per level and relation.

The ordinary (Strawberry) path runs instead, chosen per operation at plan time, for what the
planner does not cover: mutations and subscriptions, introspection, a document that does
not parse or validate, and variables that do not coerce; and, at run time, whenever a
resolver raises or a non-null field comes out null. Reads have no side effects, so running
such an operation again on the ordinary path gives exactly the answer, errors, paths and
locations included, that the ordinary path gives. Each choice is logged once per plan and
counted in `cidadao_ai_execution_path_total`.

The planner lives in `plan`, what plans are made of in `selection`; running them, in
`execute`; subtrees as one statement, in `tree` (and `node(id:)`, in `lookups`); an
operation's variables, coerced with signatures read once per operation, in `variables`.
"""

from cidadao_gql.errors import Fallback
from cidadao_gql.execution.compiled.execute import Executor
from cidadao_gql.execution.compiled.plan import Planner, Price

__all__ = ["Executor", "Fallback", "Planner", "Price"]
