"""What each operation of a document selects once its fragments are spread in: how deep
it goes and how many fields it names, worked out in work linear in the document.

A fragment spread twice names its fields twice, so these numbers can double with every
fragment of a chain (`fragment F0 on Query { ...F1 ...F1 }` … thirty times is 2^30 fields
in a kilobyte). A walk that spreads fragments as it goes does that much work too, which is
how one request once froze a worker. Here each definition is walked once, on its own,
into a summary (its own fields and deepest field, and the spreads it makes at which
level); the summaries are then combined bottom-up over the graph of spreads, each
fragment once, as graphql-core's own `FragmentNestingVisitor` does for nesting. Numbers
saturate at SATURATED, so a chain of any length stays cheap to count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

SATURATED = 10**12  # more fields than any limit allows: counted no further


@dataclass(frozen=True, slots=True)
class Size:
    """An operation's or fragment's: `depth`, the level of its deepest field (the first
    level is 0, -1 when it has none), and `fields`, how many fields it selects."""

    depth: int
    fields: int


@dataclass(slots=True)
class _Summary:
    """One definition, its spreads not followed: its own deepest field and field count,
    and each spread with its level and whether depth counts below it."""

    depth: int = -1
    fields: int = 0
    spreads: list[tuple[str, int, bool]] = field(default_factory=list)


class Expansion:
    """Sizes of a document's operations and fragments. `visits` counts the selections
    walked: at most the document's own, however its fragments multiply them."""

    def __init__(self, document: DocumentNode) -> None:
        self.visits = 0
        self._summaries = {
            d.name.value: self._summarise(d.selection_set)
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self._sizes: dict[str, Size] = {}
        for name in self._summaries:
            self._size_fragments_below(name)

    def of(self, operation: OperationDefinitionNode) -> Size:
        return self._combine(self._summarise(operation.selection_set))

    def fragment(self, name: str) -> Size:
        return self._sizes[name]

    def _summarise(self, selection_set: SelectionSetNode) -> _Summary:
        """Depth is counted as graphql-depth-limit counts it: fragments add no level, and
        introspection (`__`-prefixed) fields are left out with all below them (cost bounds
        those); fields are all counted."""
        summary = _Summary()
        pending = [(selection_set, 0, True)]
        while pending:
            selections, level, deep = pending.pop()
            for node in selections.selections:
                self.visits += 1
                if isinstance(node, FieldNode):
                    summary.fields += 1
                    counted = deep and not node.name.value.startswith("__")
                    if counted:
                        summary.depth = max(summary.depth, level)
                    if node.selection_set is not None:
                        pending.append((node.selection_set, level + 1, counted))
                elif isinstance(node, InlineFragmentNode):
                    pending.append((node.selection_set, level, deep))
                elif isinstance(node, FragmentSpreadNode):
                    summary.spreads.append((node.name.value, level, deep))
        return summary

    def _size_fragments_below(self, root: str) -> None:
        """Sizes of `root` and every fragment it reaches, children before parents, without
        recursion (a chain may be longer than the interpreter's stack). A spread that
        closes a cycle adds nothing: cycles are graphql-core's error to report."""
        if root in self._sizes:
            return
        path = [(root, iter(self._summaries[root].spreads))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread, _, _ in spreads:
                if (
                    spread in self._summaries
                    and spread not in self._sizes
                    and spread not in on_path
                ):
                    path.append((spread, iter(self._summaries[spread].spreads)))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.remove(name)
                self._sizes[name] = self._combine(self._summaries[name])

    def _combine(self, summary: _Summary) -> Size:
        depth, fields = summary.depth, summary.fields
        for name, level, deep in summary.spreads:
            spread = self._sizes.get(name)
            if spread is None:  # unknown, or closing a cycle: another rule's error
                continue
            fields = min(fields + spread.fields, SATURATED)
            if deep:
                depth = max(depth, level + spread.depth)
        return Size(depth, fields)
