"""The deployment files: the compose file is one Compose accepts, the manifests are valid
Kubernetes (checked offline against its JSON schemas) and ask for the resources, probes,
autoscaling and disruption budgets we promise, and every metric the dashboards plot and
the alert rules watch exists."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from cidadao_gql import metrics
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import ROOT, live_server, needs

DOCKER = ROOT / "docker"
KUBERNETES = "1.30"  # the oldest release the manifests must run on


def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((DOCKER / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def test_docker_compose_accepts_the_compose_file() -> None:
    needs(shutil.which("docker-compose"), "Debian's docker-compose")
    done = subprocess.run(
        ["docker-compose", "-f", str(DOCKER / "compose.yaml"), "config", "--services"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "EDGE_PURGE_TOKEN": "0" * 64},  # the file asks for one
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {
        "migrate", "api", "worker", "postgres", "postgres-replica", "redis", "redis-queue",
        "prometheus", "grafana", "varnish",
    }  # fmt: skip


def test_the_job_queue_has_a_redis_that_never_evicts() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    command = services["redis-queue"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    for name in ("api", "worker"):
        assert services[name]["environment"]["QUEUE_REDIS_URL"].startswith("redis://redis-queue:")


def test_kubernetes_manifests_ask_for_the_promised_resources() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == {"cidadao-gql-api", "cidadao-gql-worker"}
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            assert container["resources"] == {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            }
        for container in pod["containers"] + pod.get("initContainers", []):
            assert set(container["resources"]) == {"requests", "limits"}, container["name"]
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, container["name"]


def test_kubernetes_manifests_are_valid_against_the_kubernetes_schemas() -> None:
    """kubernetes-validate ships the schemas in its wheel: no network. Strict: a field
    Kubernetes does not know (a misspelt probe, say) is an error, not silently dropped."""
    for doc in manifests():
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    broken = copy.deepcopy(of_kind("Deployment")["cidadao-gql-worker"])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readynessProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def _probe(container: dict[str, Any], kind: str) -> tuple[str, str]:
    action = container[kind]["httpGet"]
    ports = {p["name"] for p in container["ports"]}
    assert action["port"] in ports, (container["name"], kind)
    return action["path"], action["port"]


def test_every_process_is_probed_on_its_real_paths() -> None:
    """The worker's paths are the ones tests/test_health.py sees it answer (404 elsewhere)."""
    deployments = of_kind("Deployment")
    api = deployments["cidadao-gql-api"]["spec"]["template"]["spec"]["containers"][0]
    worker = deployments["cidadao-gql-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert _probe(api, "startupProbe") == ("/health/live", "http")
    assert _probe(api, "livenessProbe") == ("/health/live", "http")
    assert _probe(api, "readinessProbe") == ("/health/ready", "http")
    assert _probe(worker, "livenessProbe") == ("/health/live", "metrics")
    assert _probe(worker, "readinessProbe") == ("/health/ready", "metrics")


def test_every_deployment_has_an_autoscaler_and_a_disruption_budget() -> None:
    deployments = of_kind("Deployment")
    autoscalers = of_kind("HorizontalPodAutoscaler").values()
    assert {a["spec"]["scaleTargetRef"]["name"] for a in autoscalers} == set(deployments)
    for autoscaler in autoscalers:
        target = deployments[autoscaler["spec"]["scaleTargetRef"]["name"]]
        assert autoscaler["spec"]["minReplicas"] >= target["spec"]["replicas"]
        assert [m["resource"]["name"] for m in autoscaler["spec"]["metrics"]] == ["cpu"]
    budgets = of_kind("PodDisruptionBudget").values()
    covered = set()
    for budget in budgets:
        wanted = budget["spec"]["selector"]["matchLabels"]
        for name, deployment in deployments.items():
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            if wanted.items() <= labels.items():
                covered.add(name)
    assert covered == set(deployments)


async def exposed_metrics(settings: Settings) -> set[str]:
    """Every sample name the app's /metrics may carry, from its TYPE lines (a labelled
    metric with no sample yet still has one)."""
    async with live_server(create_app(settings)) as client:
        text = (await client.get("/metrics")).text
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            suffixes = ("_bucket", "_count", "_sum") if kind == "histogram" else ("",)
            names |= {name + suffix for suffix in suffixes}
    return names


async def test_the_alert_rules_watch_only_metrics_the_app_exposes(settings: Settings) -> None:
    rules = [
        rule
        for group in yaml.safe_load((DOCKER / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]
    exposed = await exposed_metrics(settings)
    sources = "".join(p.read_text() for p in (ROOT / "cidadao_gql").rglob("*.py"))
    watched = set()
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        names = set(re.findall(r"cidadao_ai_\w+", rule["expr"]))
        assert names and names <= exposed, (rule["alert"], names - exposed)
        watched |= names
        for codes in re.findall(r'code=~?"([^"]+)"', rule["expr"]):  # codes we really answer
            for code in codes.split("|"):
                assert f'"{code}"' in sources, (rule["alert"], code)
    queue = {"cidadao_ai_investigation_queue_depth", "cidadao_ai_investigation_oldest_pending_seconds",
             "cidadao_ai_investigation_jobs_failed_total", "cidadao_ai_investigation_jobs_retried_total",
             "cidadao_ai_investigation_jobs_recovered_total", "cidadao_ai_errors_total",
             "cidadao_ai_overload_rejections_total"}  # fmt: skip
    assert queue <= watched
    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["alerts.yml"]
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert (
        "./alerts.yml:/etc/prometheus/alerts.yml:ro" in compose["services"]["prometheus"]["volumes"]
    )


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


def test_kubernetes_gives_the_job_queue_a_redis_that_never_evicts() -> None:
    """As compose does: QUEUE_REDIS_URL names a Service whose pods run Redis with
    `noeviction`, so cache eviction can never drop the job stream."""
    (config,) = of_kind("ConfigMap").values()
    host = config["data"]["QUEUE_REDIS_URL"].removeprefix("redis://").partition(":")[0]
    service = of_kind("Service")[host]
    server = of_kind("StatefulSet")["redis-queue"]
    pod = server["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert config["data"]["QUEUE_REDIS_URL"] != config["data"]["REDIS_URL"]
