"""The package's shape, as the README's Layout and the house rules promise it: small
modules, no function over 80 lines without the measured cost that keeps it whole, a short
`create_app`, one noun for one thing (no class name or module name in two places, no
module named as a package), and every exception class in errors.py's drawn tree.

Read from the source (as tests/test_layers.py reads the imports), except the exception
check, which imports each module to see what its classes derive from.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections import defaultdict
from pathlib import Path

import cidadao_gql
from cidadao_gql import errors

PACKAGE = Path(cidadao_gql.__file__).parent
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_CREATE_APP_LINES = 60
# A measured cost: a figure with its unit (ms, µs, %, MB, ×...), as the comments give them.
MEASURED = re.compile(r"\d[\d.,]*\s*(?:ms|µs|us|ns|s|%|MB|KB|MiB|KiB|GB|×|x)\b|\d\s*%")


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def long_functions_without_cost(source: str, name: str) -> list[str]:
    """Functions over MAX_FUNCTION_LINES whose comment lines just above them (or above
    their decorators) name no measured figure."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        assert node.end_lineno is not None
        if node.end_lineno - node.lineno + 1 <= MAX_FUNCTION_LINES:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        comment = []
        while first > 0 and lines[first - 1].strip().startswith("#"):
            first -= 1
            comment.append(lines[first])
        if not MEASURED.search(" ".join(comment)):
            found.append(f"{name}:{node.lineno} {node.name}")
    return found


def test_no_module_is_over_500_lines() -> None:
    long = [
        f"{p.relative_to(PACKAGE)}: {n}"
        for p in sources()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def test_every_function_over_80_lines_names_the_measured_cost_that_keeps_it_whole() -> None:
    found = [
        f
        for p in sources()
        for f in long_functions_without_cost(p.read_text(), str(p.relative_to(PACKAGE)))
    ]
    assert found == []


def test_the_long_function_check_sees_one_without_its_cost() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    bare = f"def f() -> None:\n{body}"
    assert long_functions_without_cost(bare, "probe.py") == ["probe.py:1 f"]
    vague = f"# long on purpose\n{bare}"
    assert long_functions_without_cost(vague, "probe.py") == ["probe.py:2 f"]
    measured = f"# one function: split, the calls cost 18 ms of the page\n{bare}"
    assert long_functions_without_cost(measured, "probe.py") == []


def test_create_app_is_a_short_composition() -> None:
    tree = ast.parse((PACKAGE / "web" / "app.py").read_text())
    (create_app,) = [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "create_app"
    ]
    assert create_app.end_lineno is not None
    assert create_app.end_lineno - create_app.lineno + 1 < MAX_CREATE_APP_LINES


def class_names(root: Path) -> dict[str, list[str]]:
    """Each class name defined under `root`, and where, when in more than one place."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(f"{path.relative_to(root)}:{node.lineno}")
    return {name: at for name, at in where.items() if len(at) > 1}


def module_names(root: Path) -> dict[str, list[str]]:
    """Each module name under `root` in more than one folder."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        if path.name not in ("__init__.py", "__main__.py"):
            where[path.name].append(str(path.relative_to(root)))
    return {name: at for name, at in where.items() if len(at) > 1}


def test_no_class_name_means_two_things() -> None:
    """One noun, one class: the schema's `ContractFilter` (a GraphQL input) and the data
    layer's `ContractWhere` (the clauses it becomes) do not share a name."""
    assert class_names(PACKAGE) == {}


def test_no_module_name_is_in_two_folders() -> None:
    """`web/sessions.py` (the cookie) and `data/session_store.py` (its SQL), not two
    `sessions.py`."""
    assert module_names(PACKAGE) == {}


def modules_named_as_packages(root: Path) -> list[str]:
    """Modules that share their name with a package (a folder holding `__init__.py`)
    anywhere under `root`: `execution/schema.py` beside the `schema/` package."""
    packages = {p.parent.name for p in root.rglob("__init__.py") if p.parent != root}
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if p.stem in packages)


# The schema keeps one module per domain area (as Saleor's graphql/<area>/ sits beside
# saleor/<area>/): the GraphQL types of investigations/ are schema/investigations.py.
AREA_FACES = ["schema/investigations.py"]


def test_no_module_shares_its_name_with_a_package() -> None:
    """The executable schema is `execution/executable_schema.py`, not a second `schema`
    beside the `schema/` package of domain types; only a domain area's GraphQL types take
    their package's name."""
    assert modules_named_as_packages(PACKAGE) == AREA_FACES


def test_the_name_checks_see_a_duplicate(tmp_path: Path) -> None:
    for folder in ("web", "data"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "sessions.py").write_text("class Session:\n    pass\n")
    assert class_names(tmp_path) == {"Session": ["data/sessions.py:1", "web/sessions.py:1"]}
    assert module_names(tmp_path) == {"sessions.py": ["data/sessions.py", "web/sessions.py"]}
    (tmp_path / "web" / "__init__.py").write_text("")
    assert modules_named_as_packages(tmp_path) == []
    (tmp_path / "data" / "web.py").write_text("")
    assert modules_named_as_packages(tmp_path) == ["data/web.py"]


def exception_classes() -> list[type[BaseException]]:
    """Every exception class the package's modules define (`__main__` runs the CLI, so it
    is left out; it defines none)."""
    found = []
    for path in sources():
        if path.name == "__main__.py":
            continue
        module = importlib.import_module(module_name(path))
        found += [
            c
            for _, c in inspect.getmembers(module, inspect.isclass)
            if c.__module__ == module.__name__ and issubclass(c, BaseException)
        ]
    return found


def test_every_exception_class_is_in_the_error_tree() -> None:
    classes = exception_classes()
    assert errors.ControlFlow in classes and errors.CidadaoError in classes  # not vacuous
    elsewhere = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if c.__module__ != errors.__name__
    ]
    assert elsewhere == []
    drawing = errors.__doc__ or ""
    for c in classes:
        assert issubclass(c, errors.CidadaoError | errors.ControlFlow), c
        assert re.search(rf"(^|[─ ]){c.__name__}\b", drawing, re.MULTILINE), (
            f"{c.__name__} is not drawn in errors.py's tree"
        )
