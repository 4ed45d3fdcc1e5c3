"""GraphiQL without a CDN. Strawberry's page loads React and GraphiQL from unpkg; where the
browser cannot reach it (an air-gapped network, a locked-down office, this project's CI),
the same files are installed from the npm registry (`cidadao-gql graphiql install`) and
served from /graphiql/. unpkg serves exactly the files of the npm packages, so the page's
integrity hashes still hold. The package list is read off Strawberry's page, so it follows
Strawberry's upgrades.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from cidadao_gql.schema.strawberry_internals import get_graphql_ide_html
from cidadao_gql.settings import Settings

PAGE = get_graphql_ide_html("graphiql")

MOUNT = "/graphiql"


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
