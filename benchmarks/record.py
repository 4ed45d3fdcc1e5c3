"""What a benchmark leaves behind, committed: benchmarks/results/NAME.md, the table the
README shows (benchmarks/readme.py copies it between the README's markers), and NAME.json,
the raw figures with the machine, the date, the commit and the command they came from."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import ROOT

RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory = next(
        int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )  # fmt: skip
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": memory,
            "system": platform.platform(), "python": platform.python_version(),
            "load_average": os.getloadavg()}  # fmt: skip


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    changed = git("status", "--porcelain", "--", "cidadao_gql", "benchmarks", "pyproject.toml")
    dirty = [line for line in changed.splitlines() if "benchmarks/results/" not in line]
    return {"sha": git("rev-parse", "HEAD").strip(), "uncommitted_changes": bool(dirty)}


def save(name: str, table: str, figures: Any) -> Path:
    """Writes NAME.md (`table` and where it came from) and NAME.json; returns the .md."""
    RESULTS.mkdir(exist_ok=True)
    when, source, host = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), commit(), machine()
    dirty = " with uncommitted changes" if source["uncommitted_changes"] else ""
    footer = (
        f"_Measured {when} at commit `{source['sha'][:10]}`{dirty}; {host['cores']} cores "
        f"({host['cpu']}), load average {host['load_average'][0]:.1f} at the end; raw figures "
        f"in `benchmarks/results/{name}.json`._"
    )
    path = RESULTS / f"{name}.md"
    path.write_text(f"{table.rstrip()}\n\n{footer}\n")
    raw = {"benchmark": name, "date": when, "commit": source, "machine": host,
           "command": [Path(sys.argv[0]).name, *sys.argv[1:]], "figures": figures}  # fmt: skip
    (RESULTS / f"{name}.json").write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    print(path.read_text())
    print(f"written: {path}, {RESULTS / f'{name}.json'}")
    return path
