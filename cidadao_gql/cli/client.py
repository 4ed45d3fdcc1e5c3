"""`cidadao-gql query`: one document, many variable sets, every page of a connection, to
NDJSON or CSV, resumable.

Each variable set is paged through `$after` to the end of the connection at `path`. Pages
are written by one writer; every SAVE_EVERY seconds (and when a set ends), the output is
made durable and the checkpoint records every set's last cursor, the output's size and the
rows it holds. A resumed export cuts the output back to that size and goes on from those
cursors, so an interrupted run loses and repeats nothing (it asks again for the pages of
at most SAVE_EVERY seconds), and its progress bar starts where the last run stopped. (An
fsync after every page, as before, was a quarter of the client's busy time in py-spy.)

Only a set's first page asks for the connection's `totalCount`: later pages are sent with
it cut out of the document (PostgreSQL counts the whole list for it, some 100 ms on
1,000,000 contracts, on every page that asks).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    InlineFragmentNode,
    NameNode,
    Node,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    parse,
    print_ast,
)
from tqdm import tqdm

from cidadao_gql.errors import QueryFailed

N = TypeVar("N", bound=Node)
SAVE_EVERY = 0.2  # seconds between checkpoints, each after an fsync of the output


@dataclass
class Checkpoint:
    path: Path
    cursors: dict[str, str | None] = field(default_factory=dict)  # set index -> last cursor
    done: set[str] = field(default_factory=set)
    size: int = 0  # bytes of output the cursors account for
    rows: int = 0  # rows in those bytes (a checkpoint older than this field says 0)
    totals: dict[str, int] = field(default_factory=dict)  # set index -> its totalCount

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        if not path.exists():
            return cls(path)
        data = orjson.loads(path.read_bytes())
        return cls(
            path, dict(data["cursors"]), set(data["done"]), int(data["size"]),
            int(data.get("rows", 0)), dict(data.get("totals", {})),
        )  # fmt: skip

    def save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        body = {"cursors": self.cursors, "done": sorted(self.done), "size": self.size,
                "rows": self.rows, "totals": self.totals}  # fmt: skip
        temporary.write_bytes(orjson.dumps(body))
        os.replace(temporary, self.path)  # atomic: a reader sees the old or the new one


def read_variables(path: Path | None) -> list[dict[str, Any]]:
    """Variable sets from NDJSON (one object a line) or CSV (a header, then strings)."""
    if path is None:
        return [{}]
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return [dict(row) for row in csv.DictReader(io.StringIO(text))]
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def named_operation(document: str, fallback: str) -> tuple[str, str]:
    """The document and its operation's name, sent as `operationName`: metrics and logs
    label operations by it, and the exports of a client that sent none were all
    "anonymous". An anonymous operation is given `fallback` (made an identifier)."""
    try:
        tree = parse(document)
    except GraphQLError as exc:
        raise QueryFailed(f"the document does not parse: {exc.message}") from None
    operations = [d for d in tree.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise QueryFailed(f"the document must hold one operation, not {len(operations)}")
    (operation,) = operations
    if operation.name is not None:
        return document, operation.name.value
    name = re.sub(r"\W", "_", fallback, flags=re.ASCII)
    name = name if re.match(r"[A-Za-z_]", name) else f"_{name}"
    named = OperationDefinitionNode(
        operation=operation.operation, name=NameNode(value=name),
        variable_definitions=operation.variable_definitions,
        directives=operation.directives, selection_set=operation.selection_set,
    )  # fmt: skip
    others = tuple(d for d in tree.definitions if d is not operation)
    return print_ast(DocumentNode(definitions=(named, *others))), name


def _uncounted(selection_set: SelectionSetNode, path: list[str]) -> SelectionSetNode | None:
    """`selection_set` with every `totalCount` field of the connection at `path` (response
    names, through inline fragments) cut out; None when the path is not spelled out there
    (a named fragment holds it: the document is then sent as it is)."""
    found = False
    selections: list[SelectionNode] = []
    for selection in selection_set.selections:
        inner: SelectionSetNode | None = None
        if isinstance(selection, FieldNode):
            if not path and selection.name.value == "totalCount":
                found = True
                continue
            named = path and (selection.alias or selection.name).value == path[0]
            if named and selection.selection_set is not None:
                inner = _uncounted(selection.selection_set, path[1:])
        elif isinstance(selection, InlineFragmentNode):
            inner = _uncounted(selection.selection_set, path)
        if inner is not None:
            found, selection = True, _copy(selection, inner)
        selections.append(selection)
    return SelectionSetNode(selections=tuple(selections)) if found else None


def _copy(node: N, selection_set: SelectionSetNode) -> N:
    keys = {key: getattr(node, key) for key in node.keys if key != "loc"}
    return type(node)(**{**keys, "selection_set": selection_set})


def without_total(document: str, path: str) -> str:
    """The (one-operation) document with the connection at `path` asking no `totalCount`."""
    tree = parse(document)
    operation = next(d for d in tree.definitions if isinstance(d, OperationDefinitionNode))
    uncounted = _uncounted(operation.selection_set, path.split("."))
    if uncounted is None:
        return document
    lean = _copy(operation, uncounted)
    definitions = tuple(lean if d is operation else d for d in tree.definitions)
    return print_ast(DocumentNode(definitions=definitions))


def _flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            out.update(_flat(item, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = item
    return out


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[part] if isinstance(data, Mapping) else None
    return data


class Exporter:
    def __init__(
        self,
        client: httpx.AsyncClient,
        document: str,
        path: str,
        out: Path,
        checkpoint: Checkpoint,
        output_format: str = "ndjson",
        page_size: int = 100,
        concurrency: int = 4,
        attempts: int = 6,
        save_every: float = SAVE_EVERY,
    ) -> None:
        self.client = client
        self.document, self.operation = named_operation(document, out.stem)
        self.counted_once = without_total(self.document, path)  # after a set's first page
        self.path = path
        self.out = out
        self.checkpoint = checkpoint
        self.format = output_format
        self.page_size = page_size
        self.limit = asyncio.Semaphore(concurrency)
        self.attempts = attempts
        self.save_every = save_every
        self.columns: list[str] | None = None
        self.bar: tqdm[Any] | None = None
        self.output: io.BufferedWriter | None = None
        self.saved = 0.0  # when the checkpoint was last saved (time.monotonic)

    async def run(self, sets: Sequence[dict[str, Any]], progress: bool = True) -> int:
        """Export every set; returns the rows written by this run."""
        self._cut_back()
        self.bar = tqdm(
            unit="row", disable=not progress, dynamic_ncols=True,
            initial=self.checkpoint.rows, total=sum(self.checkpoint.totals.values()) or None,
        )  # fmt: skip
        self.output = self.out.open("ab")
        self.saved = time.monotonic()
        try:
            written = await asyncio.gather(
                *(
                    self._one(str(i), variables)
                    for i, variables in enumerate(sets)
                    if str(i) not in self.checkpoint.done
                )
            )
        finally:
            self._save()  # what was written so far, whether or not a page failed
            self.output.close()
            self.bar.close()
        return sum(written)

    def _cut_back(self) -> None:
        """Forget output past the checkpoint: its pages will be fetched again."""
        if self.out.exists():
            with self.out.open("r+b") as fh:
                fh.truncate(self.checkpoint.size)
            if self.format == "csv" and self.checkpoint.size:
                with self.out.open(newline="", encoding="utf-8") as fh:
                    self.columns = next(csv.reader(fh), None)
        else:
            self.out.touch()
            self.checkpoint.size = 0

    async def _one(self, index: str, variables: dict[str, Any]) -> int:
        written, cursor = 0, self.checkpoint.cursors.get(index)
        async with self.limit:
            while True:
                counted = index in self.checkpoint.totals
                document = self.counted_once if counted else self.document
                variables = {**variables, "first": self.page_size, "after": cursor}
                page = await self._page(document, variables)
                connection = _at(page, self.path)
                if not isinstance(connection, Mapping):
                    raise QueryFailed(f"no connection at `{self.path}` in the answer")
                nodes = [e["node"] for e in connection.get("edges") or []] or list(
                    connection.get("nodes") or []
                )
                info = connection.get("pageInfo") or {}
                total = connection.get("totalCount")
                if isinstance(total, int) and index not in self.checkpoint.totals:
                    self.checkpoint.totals[index] = total  # saved with the page
                    if self.bar is not None:
                        self.bar.total = sum(self.checkpoint.totals.values())
                        self.bar.refresh()
                cursor = info.get("endCursor") or cursor
                finished = not info.get("hasNextPage")
                self._write(index, nodes, cursor, finished)
                written += len(nodes)
                if finished:
                    return written

    async def _page(self, document: str, variables: dict[str, Any]) -> Any:
        delay = 0.5
        for attempt in range(self.attempts):
            try:
                body = {"query": document, "variables": variables,
                        "operationName": self.operation}  # fmt: skip
                response = await self.client.post("/graphql", json=body)
            except httpx.TransportError:
                if attempt == self.attempts - 1:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if response.status_code in (429, 502, 503, 504) and attempt < self.attempts - 1:
                retry_after = response.headers.get("retry-after", "")
                await asyncio.sleep(float(retry_after) if retry_after.isdigit() else delay)
                delay *= 2
                continue
            answer = orjson.loads(response.content)
            if answer.get("errors"):
                raise QueryFailed(orjson.dumps(answer["errors"]).decode())
            return answer.get("data")
        raise QueryFailed("gave up after retries")

    def _write(self, index: str, nodes: list[Any], cursor: str | None, finished: bool) -> None:
        """One page into the output and the checkpoint's figures (no await in between: the
        figures always describe the bytes written); saved `save_every` seconds after the
        last save, or when the set is done."""
        assert self.output is not None
        self.output.write(self._encode(nodes))
        self.checkpoint.size = self.output.tell()
        self.checkpoint.rows += len(nodes)
        self.checkpoint.cursors[index] = cursor
        if finished:
            self.checkpoint.done.add(index)
        if finished or time.monotonic() - self.saved >= self.save_every:
            self._save()
        if self.bar is not None:
            self.bar.update(len(nodes))

    def _save(self) -> None:
        """The output durable up to the checkpoint's size, then the checkpoint: a crash
        between the two leaves the old checkpoint, behind bytes that are there."""
        assert self.output is not None
        self.output.flush()
        os.fsync(self.output.fileno())
        self.checkpoint.save()
        self.saved = time.monotonic()

    def _encode(self, nodes: list[Any]) -> bytes:
        if self.format == "ndjson":
            return b"".join(orjson.dumps(node) + b"\n" for node in nodes)
        rows = [_flat(node) for node in nodes]
        text = io.StringIO()
        if self.columns is None and rows:
            self.columns = list(rows[0])
            csv.writer(text).writerow(self.columns)
        writer = csv.DictWriter(text, fieldnames=self.columns or [], extrasaction="ignore")
        writer.writerows(rows)
        return text.getvalue().encode()
