"""The compose monitoring stack's files (examples/monitoring/) and the Prometheus tools that check them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import PROJECT

MONITORING = PROJECT / "examples" / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
ALERTMANAGER_CONFIG = MONITORING / "alertmanager" / "alertmanager.yml"
GRAFANA_PROVISIONING = MONITORING / "grafana" / "provisioning"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "newsletter.json"

#: Where Debian's packages (prometheus, prometheus-alertmanager) put the binaries; .ci/run installs them.
TOOLS_DIR = Path("/usr/bin")


def tool(name: str) -> Path:
    """The Prometheus tool NAME; a missing one fails the test under CI and skips it, with the reason, elsewhere."""
    path = TOOLS_DIR / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    reason = f"{path} is missing: install Debian's prometheus and prometheus-alertmanager packages (.ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rules() -> list[dict[str, Any]]:
    """Every rule of every rule file, recording and alerting."""
    return [rule for path in rule_files() for group in read_yaml(path)["groups"] for rule in group["rules"]]


def alert_names() -> list[str]:
    return [rule["alert"] for rule in rules() if "alert" in rule]


def recorded_names() -> list[str]:
    return [rule["record"] for rule in rules() if "record" in rule]


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text(encoding="utf-8")))


def panels() -> list[dict[str, Any]]:
    return list(dashboard()["panels"])


def provisioned_datasource() -> dict[str, Any]:
    """The one datasource Grafana is provisioned with."""
    (source,) = (
        source for path in sorted((GRAFANA_PROVISIONING / "datasources").glob("*.yml")) for source in read_yaml(path)["datasources"]
    )
    return dict(source)
