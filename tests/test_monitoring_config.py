"""The compose monitoring stack's configuration, checked by the tools that run it.

`promtool` (Debian's prometheus package) checks the Prometheus configuration
and the rules, and runs the alerts' unit tests (examples/monitoring/prometheus/tests);
`amtool` (prometheus-alertmanager) checks the Alertmanager configuration.
.ci/run installs both: under CI a missing binary fails these tests, elsewhere
it skips them with the reason.

docker-compose.yml is validated against the Compose Specification's JSON
schema, tests/specs/compose_spec.json: the file docker-compose 1.29.2 ships on
PyPI (compose/config/compose_spec.json), Apache-2.0, licence in
tests/specs/compose_spec.LICENSE.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from publisher.core.settings import Settings
from tests.support import monitoring
from tests.support.monitoring import (
    ALERTMANAGER_CONFIG,
    DASHBOARD,
    GRAFANA_PROVISIONING,
    PROMETHEUS_CONFIG,
    RULE_TESTS_DIR,
    alert_names,
    panels,
    provisioned_datasource,
    read_yaml,
    recorded_names,
    rule_files,
    tool,
)
from tests.support.paths import PROJECT

COMPOSE_FILE = PROJECT / "docker-compose.yml"
COMPOSE_SCHEMA = PROJECT / "tests" / "specs" / "compose_spec.json"
MONITORING_SERVICES = ("prometheus", "grafana", "alertmanager")


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, timeout=120, check=False)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def compose() -> dict[str, Any]:
    return dict(read_yaml(COMPOSE_FILE))


def rule_tests() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*.yml"))


# --- The tools ------------------------------------------------------------------------------


def test_a_missing_tool_fails_under_ci_and_skips_with_the_reason_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(monitoring, "TOOLS_DIR", tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{tmp_path}/promtool is missing: install Debian's prometheus"):
        tool("promtool")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="promtool is missing"):
        tool("promtool")
    (tmp_path / "promtool").write_text("#!/bin/sh\n", encoding="utf-8")
    (tmp_path / "promtool").chmod(0o755)
    assert tool("promtool") == tmp_path / "promtool"


# --- Prometheus: configuration, rules and the alerts' unit tests -------------------------------


def test_prometheus_config_passes_promtool_with_every_rule_file() -> None:
    result = run(tool("promtool"), "check", "config", PROMETHEUS_CONFIG)
    assert result.returncode == 0, output(result)
    assert f"SUCCESS: {len(rule_files())} rule files found" in output(result)


def test_rule_files_pass_promtool_and_a_broken_expression_does_not(tmp_path: Path) -> None:
    promtool = tool("promtool")
    result = run(promtool, "check", "rules", *rule_files())
    assert result.returncode == 0, output(result)
    for path in rule_files():
        count = sum(len(group["rules"]) for group in read_yaml(path)["groups"])
        assert f"Checking {path}\n  SUCCESS: {count} rules found" in output(result)
    broken = tmp_path / "broken.yml"
    broken.write_text((rule_files()[0]).read_text(encoding="utf-8").replace("sum by (", "sum by ((", 1), encoding="utf-8")
    refused = run(promtool, "check", "rules", broken)
    assert refused.returncode != 0 and "FAILED" in output(refused), output(refused)


def test_unit_tests_of_the_rules_pass() -> None:
    result = run(tool("promtool"), "test", "rules", *rule_tests())
    assert result.returncode == 0, output(result)
    assert output(result).count("SUCCESS") == len(rule_tests()), output(result)
    # promtool only warns when a test names a rule file that does not exist, and then tests nothing.
    assert "WARNING" not in output(result), output(result)


def test_every_rule_test_loads_the_rules_of_the_repository() -> None:
    for path in rule_tests():
        named = sorted((path.parent / name).resolve() for name in read_yaml(path)["rule_files"])
        assert named == rule_files(), f"{path.name} loads {named}"


def test_every_alert_has_unit_tests_firing_and_not_firing() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in rule_tests():
        for case in read_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = set(alert_names())
    assert len(names) >= 7
    assert names - fired == set(), "alerts no unit test sees firing"
    assert names - quiet == set(), "alerts no unit test sees quiet"
    assert fired | quiet <= names, "unit tests of alerts that do not exist"


def test_every_recording_rule_has_a_unit_test() -> None:
    tested = " ".join(
        check["expr"] for path in rule_tests() for case in read_yaml(path)["tests"] for check in case.get("promql_expr_test", [])
    )
    assert [name for name in recorded_names() if name not in tested] == []


def test_a_wrong_expectation_fails_the_unit_tests(tmp_path: Path) -> None:
    """The unit tests can fail: the same test expecting another severity does."""
    test = read_yaml(RULE_TESTS_DIR / "workers_test.yml")
    test["rule_files"] = [str(path) for path in rule_files()]
    for case in test["tests"]:
        for check in case["alert_rule_test"]:
            for alert in check["exp_alerts"]:
                alert["exp_labels"]["severity"] = "warning"
    wrong = tmp_path / "wrong_test.yml"
    wrong.write_text(yaml.safe_dump(test), encoding="utf-8")
    result = run(tool("promtool"), "test", "rules", wrong)
    assert result.returncode != 0 and "FAILED" in output(result), output(result)


# --- Alertmanager ---------------------------------------------------------------------------


def test_alertmanager_config_passes_amtool_and_routes_alerts_to_the_sample_receiver() -> None:
    amtool = tool("amtool")
    checked = run(amtool, "check-config", ALERTMANAGER_CONFIG)
    assert checked.returncode == 0, output(checked)
    assert "SUCCESS" in output(checked)
    for severity in ("critical", "warning"):
        routed = run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", f"severity={severity}")
        assert routed.returncode == 0, output(routed)
        assert routed.stdout.strip() == "newsletter-operators"


def test_amtool_refuses_a_route_to_a_receiver_that_does_not_exist(tmp_path: Path) -> None:
    config = read_yaml(ALERTMANAGER_CONFIG)
    config["route"]["receiver"] = "nobody"
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(yaml.safe_dump(config), encoding="utf-8")
    refused = run(tool("amtool"), "check-config", broken)
    assert refused.returncode != 0 and "nobody" in output(refused), output(refused)


# --- Prometheus and compose agree ----------------------------------------------------------------


def test_prometheus_scrapes_the_agreed_jobs_on_the_services_ports() -> None:
    config = read_yaml(PROMETHEUS_CONFIG)
    services = compose()["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"newsletter-worker", "newsletter-web", "flower"}
    # Workers by DNS, so every container of a scaled service is a target.
    (workers,) = jobs["newsletter-worker"]["dns_sd_configs"]
    assert (workers["names"], workers["type"], workers["port"]) == (["worker"], "A", Settings.model_fields["metrics_port"].default)
    assert str(workers["port"]) in services["worker"]["expose"]
    web_port = Settings.model_fields["web_metrics_port"].default
    assert jobs["newsletter-web"]["static_configs"] == [{"targets": [f"web:{web_port}"]}]
    assert str(web_port) in services["web"]["expose"]
    assert str(web_port) not in " ".join(services["web"].get("ports", [])), "the metrics port must not be published"
    assert jobs["flower"]["static_configs"] == [{"targets": ["flower:5555"]}]
    assert services["flower"]["command"][-2:] == ["--port", "5555"]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    assert services["alertmanager"]["profiles"] == ["alerting"]


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → host path of a service's bind mounts (relative to the compose file)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mounts[target] = (COMPOSE_FILE.parent / source).resolve()
    return mounts


def test_compose_mounts_the_monitoring_files_of_the_repository() -> None:
    services = compose()["services"]
    for name in MONITORING_SERVICES:
        for host in bind_mounts(services[name]).values():
            assert host.is_dir(), f"{name} mounts {host}, which is not in the repository"
    prometheus = bind_mounts(services["prometheus"])
    assert prometheus["/etc/prometheus"] == PROMETHEUS_CONFIG.parent
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    alertmanager = bind_mounts(services["alertmanager"])
    assert alertmanager["/etc/alertmanager"] == ALERTMANAGER_CONFIG.parent
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in services["alertmanager"]["command"]
    grafana = bind_mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == GRAFANA_PROVISIONING
    ((provider,),) = (read_yaml(path)["providers"] for path in (GRAFANA_PROVISIONING / "dashboards").glob("*.yml"))
    assert grafana[provider["options"]["path"]] == DASHBOARD.parent
    home = Path(services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert grafana[str(home.parent)] / home.name == DASHBOARD
    assert provisioned_datasource()["url"] == "http://prometheus:9090"


def test_monitoring_interfaces_are_published_on_the_hosts_loopback_only() -> None:
    services = compose()["services"]
    for name in (*MONITORING_SERVICES, "flower"):
        for port in services[name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_monitoring_data_lives_in_named_volumes() -> None:
    spec = compose()
    for name, target in (("prometheus", "/prometheus"), ("grafana", "/var/lib/grafana"), ("alertmanager", "/alertmanager")):
        (volume,) = (v.split(":")[0] for v in spec["services"][name]["volumes"] if v.split(":")[1] == target)
        assert volume in spec["volumes"], f"{name} keeps its data in {volume}, which is not declared"


# --- The compose file against the Compose Specification ------------------------------------------

DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+")
EXPOSE = re.compile(r"\d+(-\d+)?(/(tcp|udp|sctp))?")
PORTS = re.compile(r"((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(\d+(-\d+)?:)?\d+(-\d+)?(/(tcp|udp|sctp))?")


def compose_validator() -> jsonschema.Draft201909Validator:
    """The schema's validator, with the formats the specification defines beyond JSON Schema's."""
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft201909Validator.check_schema(schema)
    formats = jsonschema.FormatChecker()
    for name, pattern in (("duration", DURATION), ("expose", EXPOSE), ("ports", PORTS)):
        formats.checks(name)(lambda value, pattern=pattern: not isinstance(value, str) or pattern.fullmatch(value) is not None)
    return jsonschema.Draft201909Validator(schema, format_checker=formats)


def schema_errors(document: dict[str, Any]) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in compose_validator().iter_errors(document)]


def test_compose_file_follows_the_compose_specification() -> None:
    spec = compose()
    assert schema_errors(spec) == []
    services = spec["services"]
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), f"{name} depends on a service that does not exist"
        named = {volume.split(":")[0] for volume in service.get("volumes", []) if not volume.startswith(("/", "."))}
        assert named <= set(spec["volumes"]), f"{name} uses volumes that are not declared"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda spec: spec["services"]["prometheus"].update(volume=[]), "'volume' does not match any of the regexes"),
        (lambda spec: spec["services"]["worker"].update(stop_grace_period="2 minutes"), "is not a 'duration'"),
        (lambda spec: spec["services"]["grafana"].update(ports=["127.0.0.1:3000:3000:1"]), "ports"),
    ],
    ids=["misspelt key", "bad duration", "bad port"],
)
def test_the_compose_schema_refuses_what_compose_would(change: Any, complaint: str) -> None:
    spec = copy.deepcopy(compose())
    change(spec)
    errors = schema_errors(spec)
    assert errors and complaint in " ".join(errors), errors


# --- The Grafana dashboard -----------------------------------------------------------------------


def test_every_panel_queries_the_provisioned_prometheus() -> None:
    source = provisioned_datasource()
    assert source["type"] == "prometheus"
    wanted = {"type": "prometheus", "uid": source["uid"]}
    assert panels()
    for panel in panels():
        assert panel["datasource"] == wanted, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"]), panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", wanted) == wanted, panel["title"]
            assert isinstance(target.get("expr"), str) and target["expr"].strip(), f"{panel['title']} {target['refId']} has no expr"
            # The live test runs each expression as it is: no Grafana variables.
            assert "$" not in target["expr"], target["expr"]


def test_dashboard_has_the_panels_operators_watch() -> None:
    titles = {panel["title"] for panel in panels()}
    assert {
        "Send rate by provider and outcome",
        "Queue depth per queue",
        "Provider latency p50 / p95",
        "Campaign progress",
        "Bounces and complaints",
        "Workers up",
    } <= titles
    assert len(titles) == len(panels()), "two panels share a title"


def test_panels_fit_the_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    assert len({panel["id"] for panel in panels()}) == len(panels())
    for panel in panels():
        place = panel["gridPos"]
        assert place["x"] >= 0 and place["x"] + place["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(place["x"], place["x"] + place["w"]) for y in range(place["y"], place["y"] + place["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_recorded_series_the_dashboard_reads_are_recorded_by_the_rules() -> None:
    read = {name for panel in panels() for target in panel["targets"] for name in re.findall(r"\b\w+:\w+:\w+\b", target["expr"])}
    assert read, "the dashboard reads no recording rule"
    assert read <= set(recorded_names())
