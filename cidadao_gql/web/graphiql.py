"""Our GraphiQL page (`graphiql.html`), without a CDN. The page names the exact npm files
it loads (React, GraphiQL, the explorer plugin) at their unpkg addresses with integrity
hashes; where the browser cannot reach unpkg (an air-gapped network, a locked-down office,
this project's CI), the same files are installed from the npm registry (`cidadao-gql
graphiql-install`) and served from /graphiql/. unpkg serves exactly the files of the npm
packages, so the hashes still hold. The worked examples (`graphiql_examples/`, each a
document and its variables) open as tabs on a first visit; the same documents are
registered as trusted documents with `cidadao-gql documents register`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from cidadao_gql.settings import Settings

HERE = Path(__file__).parent
EXAMPLES_DIR = HERE / "graphiql_examples"
MOUNT = "/graphiql"


def examples(directory: Path = EXAMPLES_DIR) -> list[dict[str, str]]:
    """The worked examples in file order, as GraphiQL tabs: {query, variables}."""
    tabs = []
    for document in sorted(directory.glob("*.graphql")):
        variables = document.with_suffix(".json")
        tab = {"query": document.read_text(encoding="utf-8")}
        if variables.is_file():
            tab["variables"] = variables.read_text(encoding="utf-8").strip()
        tabs.append(tab)
    return tabs


def page(tabs: list[dict[str, str]]) -> str:
    """The page with the examples in it (as JSON that no `</script>` can close early)."""
    embedded = json.dumps(tabs, ensure_ascii=False).replace("<", "\\u003c")
    return (HERE / "graphiql.html").read_text(encoding="utf-8").replace("/*EXAMPLES*/", embedded)


PAGE = page(examples())


def assets_dir(settings: Settings) -> Path:
    return settings.graphiql_assets_dir or settings.data_dir / "graphiql"


_UNPKG = re.compile(r"https://unpkg\.com/((?:@[^/@]+/)?[^/@]+)@([^/]+)/")


def packages(html: str) -> dict[str, str]:
    """{package: version} that the page loads from unpkg."""
    return {name: version for name, version in _UNPKG.findall(html)}


def served_locally(html: str) -> str:
    """The page with unpkg's addresses turned into ours."""
    return _UNPKG.sub(lambda m: f"{MOUNT}/{m.group(1)}/", html)


def node_modules(directory: Path) -> Path:
    return directory / "node_modules"


def installed(directory: Path, html: str) -> bool:
    modules = node_modules(directory)
    return all((modules / name / "package.json").is_file() for name in packages(html))


def install(directory: Path, html: str) -> None:
    """Install the page's packages, at the page's versions, into `directory`."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install GraphiQL's files (apt install npm)")
    directory.mkdir(parents=True, exist_ok=True)
    wanted = [f"{name}@{version}" for name, version in packages(html).items()]
    subprocess.run(
        [npm, "install", "--prefix", str(directory), "--no-audit", "--no-fund",
         "--no-save", "--loglevel=error", *wanted],
        check=True,
        stdout=subprocess.DEVNULL,  # a bare "added 120 packages"; `serve` says what it did
    )  # fmt: skip
