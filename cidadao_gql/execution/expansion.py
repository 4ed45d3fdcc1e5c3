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

`overlap` then bounds what graphql-core's OverlappingFieldsCanBeMerged would do, which
compares every pair of fields sharing a response name in one selection set (quadratic:
1,995 `__typename` took a second), and each selection set with every fragment it reaches
through its spreads (a chain of 140 fragments, each spreading the next, is 140²/2
comparisons). Per selection set it finds the response name that occurs most often once
fragments are spread (each fragment's own names counted once, then reused; a fragment
spread twice into one selection set counted once, as the rule and execution collect it)
and how many distinct fragments it reaches.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Overlap:
    """The worst selection set of a document for OverlappingFieldsCanBeMerged: the response
    name occurring most often in one selection set (`name`, `repeats` times), and the most
    distinct fragments one selection set reaches through its spreads (`fragments`)."""

    name: str
    repeats: int
    fragments: int


@dataclass(slots=True)
class _Group:
    """One selection set with its inline fragments flattened in (as the rule collects it):
    the response names its own fields use, and the fragments it spreads."""

    names: Counter[str] = field(default_factory=Counter)
    spreads: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Summary:
    """One definition, its spreads not followed: its own deepest field and field count,
    each spread with its level and whether depth counts below it, and its selection sets
    (the first is the definition's own)."""

    depth: int = -1
    fields: int = 0
    spreads: list[tuple[str, int, bool]] = field(default_factory=list)
    groups: list[_Group] = field(default_factory=list)


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

    def overlap(self, operations: list[OperationDefinitionNode]) -> Overlap:
        """The worst selection set of `operations` and of every fragment (the rule checks
        fragments on their own too). Run only once every size is within the field limit:
        the names of a fragment are then at most that many, so adding them in at each of
        its spreads stays bounded."""
        order = list(self._sizes)  # children before parents
        bit = {name: 1 << n for n, name in enumerate(order)}
        names: dict[str, Counter[str]] = {}
        reach: dict[str, int] = {}  # the fragments a fragment's own selection set reaches
        worst = Overlap("", 0, 0)
        for name in order:
            summary = self._summaries[name]
            names[name], reach[name], worst = self._overlap_of(summary, names, reach, bit, worst)
        for operation in operations:
            summary = self._summarise(operation.selection_set)
            _, _, worst = self._overlap_of(summary, names, reach, bit, worst)
        return worst

    def _overlap_of(
        self,
        summary: _Summary,
        names: dict[str, Counter[str]],
        reach: dict[str, int],
        bit: dict[str, int],
        worst: Overlap,
    ) -> tuple[Counter[str], int, Overlap]:
        """The names and reach of the definition's own selection set, and `worst` updated
        with each of its selection sets. A spread closing a cycle, or of an unknown
        fragment, adds nothing (graphql-core reports those)."""
        own: tuple[Counter[str], int] = (Counter(), 0)
        for n, group in enumerate(summary.groups):
            counted, reached = Counter(group.names), 0
            for spread in dict.fromkeys(group.spreads):  # twice in one set: compared once
                if spread in names:
                    self.visits += len(names[spread])
                    counted.update(names[spread])
                    reached |= bit[spread] | reach[spread]
            if n == 0:
                own = (counted, reached)
            name, repeats = max(counted.items(), key=lambda item: item[1], default=("", 0))
            worst = Overlap(
                name if repeats > worst.repeats else worst.name,
                max(repeats, worst.repeats),
                max(reached.bit_count(), worst.fragments),
            )
        return own[0], own[1], worst

    def _summarise(self, selection_set: SelectionSetNode) -> _Summary:
        """Depth is counted as graphql-depth-limit counts it: fragments add no level, and
        introspection (`__`-prefixed) fields are left out with all below them (cost bounds
        those); fields are all counted."""
        summary = _Summary(groups=[_Group()])
        pending = [(selection_set, 0, True, summary.groups[0])]
        while pending:
            selections, level, deep, group = pending.pop()
            for node in selections.selections:
                self.visits += 1
                if isinstance(node, FieldNode):
                    summary.fields += 1
                    group.names[node.alias.value if node.alias else node.name.value] += 1
                    counted = deep and not node.name.value.startswith("__")
                    if counted:
                        summary.depth = max(summary.depth, level)
                    if node.selection_set is not None:
                        summary.groups.append(_Group())
                        pending.append((node.selection_set, level + 1, counted, summary.groups[-1]))
                elif isinstance(node, InlineFragmentNode):
                    pending.append((node.selection_set, level, deep, group))
                elif isinstance(node, FragmentSpreadNode):
                    summary.spreads.append((node.name.value, level, deep))
                    group.spreads.append(node.name.value)
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


def schema_fields(document: DocumentNode) -> int:
    """How many `__schema` fields the document writes (each written once, however often
    its fragment is spread: spreads of one fragment in one selection merge). Pricing
    introspection runs it, so this is what bounds that work; one is all a client needs."""
    counted = 0
    pending: list[Any] = [d for d in document.definitions if hasattr(d, "selection_set")]
    while pending:
        node = pending.pop()
        if isinstance(node, FieldNode) and node.name.value == "__schema":
            counted += 1
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            pending.extend(selection_set.selections)
    return counted
