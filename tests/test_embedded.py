"""The first start on a fresh machine (issue 17): the embedded PostgreSQL's own chatter in
a file under the data directory, no stray warning, and what was seeded and imported said
in counts that match the database."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cidadao_gql.ingestion.loading import LOAD_ORDER
from cidadao_gql.runtime import embedded
from cidadao_gql.settings import Settings
from tests.conftest import SAMPLE_DIR, DatabaseFactory, connect

START = """
import sys
from pathlib import Path
from cidadao_gql.runtime.embedded import start_postgres
print(start_postgres(Path(sys.argv[1])).startswith("postgresql://"), end="")
"""


def test_the_embedded_server_starts_quietly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", START, str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "True", "")
    log = (tmp_path / embedded.LOG_FILE).read_text()
    assert "initdb" in log and "pg_ctl" in log
    assert (tmp_path / "postgres" / "log").is_file()  # the server's own log


async def test_the_first_start_counts_what_it_loaded(
    make_database: DatabaseFactory, caplog: pytest.LogCaptureFixture
) -> None:
    url = await make_database()
    settings = Settings(database_url=url, seed_contracts=400, pncp_sample_dir=SAMPLE_DIR)
    with caplog.at_level(logging.INFO, logger="cidadao_gql.embedded"):
        await embedded.fill(url, settings)
    messages = [r.getMessage() for r in caplog.records]
    async with connect(url) as conn:
        rows = [await conn.fetchval(f"SELECT count(*) FROM {name}") for name in LOAD_ORDER]
        pncp = await conn.fetchval(
            "SELECT count(*) FROM procurements WHERE metadata->>'source' IS NULL"
        )
    assert f"in the database: {embedded.counts(rows)}" in messages
    assert any(m.startswith("seeded: ") and "400 contracts" in m for m in messages)
    assert f"PNCP sample: procurements: {pncp} new, 0 updated, 0 unchanged" in messages
