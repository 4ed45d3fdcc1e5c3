"""Persisted documents in execution: the extension that puts a persisted query's document
in place (data.persisted finds it) before Strawberry parses the request."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension


class PersistedQueries(SchemaExtension):
    """Puts the persisted document in place before Strawberry parses the request."""

    async def on_operation(self) -> AsyncIterator[None]:
        execution = self.execution_context
        documents = getattr(execution.context, "persisted", None)
        if documents is not None:
            execution.query = await documents.resolve(
                execution.query, execution.operation_extensions
            )
        yield
