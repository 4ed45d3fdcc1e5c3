"""The package's folders are the layers a request goes down, and imports point down them.

Every `import` of the package's own modules is read from the source (module level,
inside functions and under `TYPE_CHECKING` alike) and checked against LAYERS: a module
may import its own layer or one below it, never one above. The only import loop left is
among the schema's domain types, which name each other (through `strawberry.lazy`, with
the import deferred into a resolver or kept under `TYPE_CHECKING`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import cidadao_gql

PACKAGE = Path(cidadao_gql.__file__).parent

# Top to bottom: the order a request goes down (the CLI and the lifecycle compose the rest;
# investigations, agents, ingestion and migrations sit beside the request's path, above the
# data they read). Plain values are at the bottom: anything may use them.
LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("web",),
    ("runtime",),
    ("execution",),
    ("schema",),
    ("investigations",),
    ("agents",),
    ("ingestion",),
    ("migrations",),
    ("data",),
    ("settings", "errors", "law", "taxids", "objects", "metrics", "observability"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    head = module.split(".")[1] if "." in module else ""
    for rank, names in enumerate(LAYERS):
        if head in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS and the README")


def imports(path: Path, *, everywhere: bool) -> set[str]:
    """The package's modules `path` imports: everywhere, or only those run when the module
    is imported (not inside a function, not under `TYPE_CHECKING`)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    if not everywhere:
        for node in ast.walk(tree):
            deferred = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if deferred or (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
                skipped.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("cidadao_gql"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cidadao_gql"):
            assert node.module is not None
            for alias in node.names:  # `from cidadao_gql.data import sql` imports a module
                child = f"{node.module}.{alias.name}"
                found.add(child if _is_module(child) else node.module)
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).is_dir() or (PACKAGE / relative).with_suffix(".py").is_file()


def graph(*, everywhere: bool) -> dict[str, set[str]]:
    return {
        module_name(p): imports(p, everywhere=everywhere) for p in sorted(PACKAGE.rglob("*.py"))
    }


def loops(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_is_in_a_layer() -> None:
    for module in graph(everywhere=True):
        if module != "cidadao_gql":
            layer(module)


def test_no_import_points_up_the_layers() -> None:
    upward = [
        f"{importer} ({LAYERS[layer(importer)][0]}) imports {imported} ({LAYERS[layer(imported)][0]})"
        for importer, imported_set in graph(everywhere=True).items()
        if importer != "cidadao_gql"
        for imported in sorted(imported_set)
        if layer(imported) < layer(importer)
    ]
    assert upward == []


def test_a_layer_of_packages_does_not_import_its_neighbours() -> None:
    """Within one layer, a package keeps to itself; `settings` using `errors` is the only
    kind of sideways import, between plain values."""
    sideways = [
        f"{importer} imports {imported}"
        for importer, imported_set in graph(everywhere=True).items()
        if importer != "cidadao_gql" and layer(importer) != len(LAYERS) - 1
        for imported in sorted(imported_set)
        if layer(imported) == layer(importer) and imported.split(".")[1] != importer.split(".")[1]
    ]
    assert sideways == []


def test_no_import_loop_when_modules_are_imported() -> None:
    assert loops(graph(everywhere=False)) == []


def test_the_only_loop_is_among_domain_types() -> None:
    for component in loops(graph(everywhere=True)):
        assert all(m.startswith("cidadao_gql.schema.") for m in component), component


def test_below_the_schema_nothing_knows_graphql() -> None:
    """Data access, investigations, agents, ingestion and migrations know rows, not GraphQL
    types: none of them imports Strawberry or graphql-core."""
    below = ("data", "investigations", "agents", "ingestion", "migrations")
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] not in below:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{module_name(path)}: {n}"
                for n in names
                if n.split(".")[0] in ("strawberry", "graphql")
            ]
    assert found == []


def test_resolvers_leave_the_cache_tiers_to_the_loaders() -> None:
    """Which tiers keep what is the loaders' choice (data/loaders.py): no module of the
    schema imports the cache."""
    graph_ = graph(everywhere=True)
    reaching = sorted(
        module
        for module, imported in graph_.items()
        if module.startswith("cidadao_gql.schema")
        and any(i.startswith("cidadao_gql.data.cache") for i in imported)
    )
    assert reaching == []


def raw_data_access(source: str) -> list[str]:
    """Where a module reaches past the loaders and stores: reading a pool (`.db`, as in
    `info.context.db` or `loaders.db`), calling data.sql's fetch and count functions, or
    importing them, or the investigations' pool-taking store."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and (
            node.attr == "db"
            or (
                isinstance(node.value, ast.Name)
                and node.value.id == "sql"
                and node.attr.startswith(("fetch_", "count_"))
            )
        ):
            found.append(f"{line}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module == "cidadao_gql.data.sql":
            found += [
                f"{line}: imports {a.name}"
                for a in node.names
                if a.name.startswith(("fetch_", "count_"))
            ]
        elif isinstance(node, ast.ImportFrom) and node.module == "cidadao_gql.investigations":
            found += [f"{line}: imports store" for a in node.names if a.name == "store"]
        elif isinstance(node, ast.Import):
            found += [
                f"{line}: imports {a.name}"
                for a in node.names
                if a.name in ("cidadao_gql.data.sql", "cidadao_gql.investigations.store")
            ]
    return found


def test_resolvers_reach_rows_through_loaders_and_stores() -> None:
    """No module of the schema holds a pool or runs SQL: rows come from the request's
    loaders (`info.context.loaders`) and investigations from the store bound to the pool
    (`info.context.investigations`). The context itself (schema/context.py) carries the
    pool for the web layer, which authenticates with it, and binds the store to it."""
    found = [
        f"{module_name(p)}:{where}"
        for p in sorted((PACKAGE / "schema").rglob("*.py"))
        if p.name != "context.py"
        for where in raw_data_access(p.read_text())
    ]
    assert found == []


def test_the_raw_access_check_sees_a_pool_and_a_fetch() -> None:
    source = (
        "from cidadao_gql.data.sql import fetch_page\n"
        "from cidadao_gql.investigations import store\n"
        "async def f(info, loaders):\n"
        "    await store.get(info.context.db, 1, 'u')\n"
        "    await sql.count_children(loaders.db)\n"
    )
    assert raw_data_access(source) == [
        "1: imports fetch_page",
        "2: imports store",
        "4: info.context.db",
        "5: sql.count_children",
        "5: loaders.db",
    ]


def test_the_layer_test_sees_an_upward_import(tmp_path: Path) -> None:
    """The checks above are not vacuous: an import of the web layer from data is upward."""
    source = tmp_path / "probe.py"
    source.write_text("from cidadao_gql.web.app import create_app\n")
    (imported,) = imports(source, everywhere=False)
    assert layer(imported) < layer("cidadao_gql.data.db")


def layout_lines(readme: str) -> list[tuple[str, str]]:
    """The folders the README's Layout lists, as paths (`cidadao_gql/data/cache`, `tests`:
    an entry's indentation says which folder above it it is in), each with its line."""
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = layout.split("```", 2)[1]
    entries: list[tuple[str, str]] = []
    parents: list[tuple[int, str]] = []
    for line in block.splitlines():
        if not line.strip() or not line.split()[0].endswith("/"):
            continue
        indent, name = len(line) - len(line.lstrip()), line.split()[0].rstrip("/")
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = "/".join([p for _, p in parents] + [name])
        entries.append((path, line.strip().partition(" ")[2].strip()))
        parents.append((indent, path.rsplit("/", 1)[-1]))
    return entries


def layout_entries(readme: str) -> list[str]:
    return [path for path, _ in layout_lines(readme)]


def test_the_layouts_named_files_and_classes_are_where_it_says() -> None:
    """A Layout line that names a module (`limits.py`) names one in its folder, and a class
    it names (`CachedAnswers`) is defined in a module the same line names."""
    root = PACKAGE.parent
    wrong = []
    for folder, line in layout_lines((root / "README.md").read_text()):
        named = re.findall(r"`([\w/]+\.py)`", line)
        wrong += [f"{folder}/{m}" for m in named if not (root / folder / m).is_file()]
        for cls in re.findall(r"`([A-Z]\w+)`", line):
            sources = [
                (root / folder / m).read_text() for m in named if (root / folder / m).is_file()
            ]
            if not any(re.search(rf"^class {cls}\b", s, re.MULTILINE) for s in sources):
                wrong.append(f"{folder}: {cls}")
    assert wrong == []


def test_the_readme_layout_lists_every_folder() -> None:
    """The README's Layout section is the tree: every folder of the package (nested ones
    too) and of the repository's top level, one line each, and nothing that is gone."""
    root = PACKAGE.parent
    listed = layout_entries((root / "README.md").read_text())
    package = {
        str(p.relative_to(root)) for p in PACKAGE.rglob("*") if p.is_dir() and any(p.glob("*.py"))
    }
    top = {
        p.name
        for p in root.iterdir()
        if p.is_dir()
        and (not p.name.startswith(".") or p.name == ".ci")
        and not p.name.endswith(".egg-info")
        and p.name not in ("build", "dist", "node_modules")
    }
    assert len(listed) == len(set(listed)), "a folder is listed twice"
    assert sorted(package | top) == sorted(listed)


def test_the_layouts_tests_line_names_every_folder_of_tests() -> None:
    """tests/ is organised by area, not as a mirror of the package: its line names each of
    its folders (`schema/`, `cache/`...), and nothing that is gone."""
    root = PACKAGE.parent
    (line,) = [d for f, d in layout_lines((root / "README.md").read_text()) if f == "tests"]
    named = set(re.findall(r"(?:^|\s)(\w+)/", line))
    folders = {
        p.name
        for p in (root / "tests").iterdir()
        if p.is_dir() and p.name not in ("__pycache__", "node_modules")
    }
    assert sorted(named) == sorted(folders)


def test_the_layout_reader_follows_indentation() -> None:
    readme = "## Layout\n\n```\na/   x\n  b/   y\n    c/ z\n  d/   w\n  *.py v\ne/  u\n```\n"
    assert layout_entries(readme) == ["a", "a/b", "a/b/c", "a/d", "e"]
