"""Strawberry's undocumented parts are read in one module only
(cidadao_gql/schema/strawberry_internals.py, checked by tests/schema/
test_strawberry_internals.py): every other module imports Strawberry from the paths its
documentation shows and reads no underscore attribute Strawberry defines.

Read from the source, as tests/test_layers.py reads the package's own imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import strawberry
import strawberry.http
import strawberry.types

import cidadao_gql

PACKAGE = Path(cidadao_gql.__file__).parent
ADAPTER = PACKAGE / "schema" / "strawberry_internals.py"

# The Strawberry modules its documentation imports from, and so the ones the package may.
PUBLIC_MODULES = {
    "strawberry",
    "strawberry.asgi",
    "strawberry.exceptions",  # ConnectionRejectionError (the WebSocket authentication guide)
    "strawberry.extensions",
    "strawberry.extensions.tracing",
    "strawberry.http",  # only its __all__ (checked below)
    "strawberry.permission",
    "strawberry.scalars",
    "strawberry.schema.config",
    "strawberry.schema_directive",
    "strawberry.subscriptions",
    "strawberry.types",  # only its __all__ (checked below)
}
# Modules whose documented names are their __all__: importing another name is private.
ONLY_EXPORTED: dict[str, set[str | None]] = {
    "strawberry.http": set(strawberry.http.__all__),
    "strawberry.types": set(strawberry.types.__all__),
}


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != ADAPTER)


def strawberry_imports(tree: ast.Module) -> list[tuple[int, str, str | None]]:
    """(line, module, name or None) for each import from Strawberry."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, None) for a in node.names if _ours(a.name))
        elif isinstance(node, ast.ImportFrom) and node.module and _ours(node.module):
            found.extend((node.lineno, node.module, a.name) for a in node.names)
    return found


def _ours(module: str) -> bool:
    return module == "strawberry" or module.startswith("strawberry.")


def strawberry_private_names() -> set[str]:
    """Every `_name` (not dunder) Strawberry's own source reads or sets as an attribute."""
    names: set[str] = set()
    for path in Path(strawberry.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                names.add(node.attr)
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def own_names(tree: ast.Module) -> set[str]:
    """The underscore names a module defines itself (its functions, and the attributes it
    sets on its own objects)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def test_only_the_adapter_imports_strawberrys_private_modules() -> None:
    wrong = []
    for path in sources():
        for line, module, name in strawberry_imports(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if module not in PUBLIC_MODULES:
                wrong.append(f"{where} imports {module}")
            elif module in ONLY_EXPORTED and name not in ONLY_EXPORTED[module]:
                wrong.append(f"{where} imports {name} from {module}, not in its __all__")
    assert not wrong, "move these into schema/strawberry_internals.py:\n" + "\n".join(wrong)


def test_only_the_adapter_reads_strawberrys_private_attributes() -> None:
    private = strawberry_private_names()
    wrong = []
    for path in sources():
        tree = ast.parse(path.read_text(), str(path))
        own = own_names(tree)
        for node in ast.walk(tree):
            attr = None
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Attribute):
                attr = node.attr
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "setattr", "hasattr"}
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                attr = node.args[1].value
            if attr and _private(attr) and attr in private and attr not in own:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} reads {attr}")
    assert not wrong, "move these into schema/strawberry_internals.py:\n" + "\n".join(wrong)


def test_the_scan_sees_what_it_looks_for() -> None:
    """The adapter itself is caught by both checks: they are not vacuous."""
    tree = ast.parse(ADAPTER.read_text())
    modules = {module for _, module, _ in strawberry_imports(tree)}
    assert modules - PUBLIC_MODULES
    assert "_schema" in strawberry_private_names()
    assert any(isinstance(n, ast.Attribute) and n.attr == "_schema" for n in ast.walk(tree))
