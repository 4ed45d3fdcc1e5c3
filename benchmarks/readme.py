"""The README's Performance tables, copied from the committed benchmark results.

    .venv/bin/python benchmarks/readme.py            # rewrite README.md
    .venv/bin/python benchmarks/readme.py --check    # exit 1 when they differ

Between `<!-- results: NAME -->` and `<!-- /results -->` the README holds exactly
benchmarks/results/NAME.md (or, before benchmarks/NAME.py has a committed run, a line that
says so); tests/test_benchmarks.py fails when it does not.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results"
SECTION = re.compile(
    r"(<!-- results: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S
)


def rendered(readme: str, results: Path = RESULTS) -> str:
    """The README with every marked section replaced by its results file."""

    def fill(found: re.Match[str]) -> str:
        path = results / f"{found['name']}.md"
        table = path.read_text() if path.exists() else missing(found["name"])
        return f"{found[1]}\n{table.strip()}\n\n{found[4]}"

    return SECTION.sub(fill, readme)


def missing(name: str) -> str:
    """What a section says before its benchmark has a committed run (NAME-SET: the
    benchmark NAME run with `--shapes SET`)."""
    script, _, chosen = name.partition("-")
    command = f"benchmarks/{script}.py" + (f" --shapes {chosen}" if chosen else "")
    if chosen == "outside":  # an outside tester's shapes
        command = f"benchmarks/{script}.py --shapes-file benchmarks/outside_shapes.json"
    return f"_No committed run yet: `.venv/bin/python {command}` makes one._"


def sections(readme: str) -> list[str]:
    return [found["name"] for found in SECTION.finditer(readme)]


def main() -> None:
    text = README.read_text()
    fresh = rendered(text)
    if "--check" in sys.argv[1:]:
        if fresh != text:
            sys.exit("README.md differs from benchmarks/results/: run benchmarks/readme.py")
        return
    README.write_text(fresh)
    print(f"README.md: {', '.join(sections(fresh))} from benchmarks/results/")


if __name__ == "__main__":
    main()
