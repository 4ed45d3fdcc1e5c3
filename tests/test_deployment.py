"""The deployment files: the compose file is one Compose accepts, the manifests ask for
the resources we promise, and every metric the dashboards plot exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from cidadao_gql import metrics
from tests.conftest import ROOT

DOCKER = ROOT / "docker"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs Debian's docker-compose")
def test_docker_compose_accepts_the_compose_file() -> None:
    done = subprocess.run(
        ["docker-compose", "-f", str(DOCKER / "compose.yaml"), "config", "--services"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {
        "migrate", "api", "worker", "postgres", "postgres-replica", "redis", "redis-queue",
        "prometheus", "grafana",
    }  # fmt: skip


def test_the_job_queue_has_a_redis_that_never_evicts() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    command = services["redis-queue"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    for name in ("api", "worker"):
        assert services[name]["environment"]["QUEUE_REDIS_URL"].startswith("redis://redis-queue:")


def test_kubernetes_manifests_ask_for_the_promised_resources() -> None:
    deployments = [
        doc
        for path in sorted((DOCKER / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] == "Deployment"
    ]
    assert {d["metadata"]["name"] for d in deployments} == {"cidadao-gql-api", "cidadao-gql-worker"}
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["resources"] == {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            }


def test_the_dashboards_plot_only_metrics_we_export() -> None:
    defined = [m for m in vars(metrics).values() if isinstance(m, Counter | Gauge | Histogram)]
    ours = {m._name for m in defined} | {"cidadao_ai_cache_hit_ratio"}  # worked out at scrape
    boards = sorted((DOCKER / "grafana" / "dashboards").glob("*.json"))
    assert len(boards) == 5
    for board in boards:
        for panel in json.loads(board.read_text())["panels"]:
            for target in panel["targets"]:
                for name in re.findall(r"cidadao_ai_\w+", target["expr"]):
                    base = re.sub(r"_(bucket|count|sum|total)$", "", name)
                    assert base in ours, f"{board.name}: {name}"
