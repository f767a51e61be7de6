"""The real ``prometheus`` binary on a loopback port, and its HTTP API."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml

from tests.support.monitoring import PROMETHEUS_CONFIG, RULES_DIR, read_yaml, tool
from tests.support.web import free_port

#: How long to wait for Prometheus to start, scrape or evaluate: only a broken test gets near it, however busy the machine.
DEADLINE = 90.0
#: Scrape and rule evaluation interval of the test's Prometheus.
INTERVAL = "1s"

T = TypeVar("T")


def config_for(targets: dict[str, str]) -> dict[str, Any]:
    """The compose stack's configuration, with each job scraping the loopback address ``targets`` gives it.

    The same job names, rule files and scrape settings; service discovery by
    DNS becomes a static target, jobs without a target (Flower) are left out,
    and so is Alertmanager. Scrapes and rules run every second.
    """
    config = read_yaml(PROMETHEUS_CONFIG)
    config["global"] = {**config["global"], "scrape_interval": INTERVAL, "scrape_timeout": INTERVAL, "evaluation_interval": INTERVAL}
    config["rule_files"] = [str(RULES_DIR / "*.yml")]
    config.pop("alerting", None)
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job = {key: value for key, value in job.items() if not key.endswith("_sd_configs") and key != "static_configs"}
            jobs.append({**job, "static_configs": [{"targets": [targets[job["job_name"]]]}]})
    assert {job["job_name"] for job in jobs} == set(targets), "a target for a job the compose configuration does not have"
    config["scrape_configs"] = jobs
    return config


class Prometheus:
    """A running ``prometheus`` and its query API."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url = url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def _get(self, path: str, params: dict[str, str]) -> Any:
        response = requests.get(self.url + path, params=params, timeout=30)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", f"{path} {params}: {response.status_code} {body}"
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant vector ``expr`` gives now (or at the Unix time ``at``)."""
        params = {"query": expr} | ({"time": str(at)} if at is not None else {})
        data = self._get("/api/v1/query", params)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query_range", {"query": expr, "start": str(start), "end": str(end), "step": str(step)})
        return list(data["result"])

    def value(self, expr: str) -> float | None:
        """The one value ``expr`` gives now, None when it gives nothing."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} gives several series: {result}"
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/alerts", {})["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self._get("/api/v1/rules", {})["groups"] for rule in group["rules"]]

    def eventually(self, what: str, probe: Callable[[], T | None]) -> T:
        """Poll ``probe`` until it returns something (not None, not empty); fail after DEADLINE saying ``what`` never came."""
        deadline = time.monotonic() + DEADLINE
        while True:
            found = probe()
            if found:
                return found
            assert time.monotonic() < deadline, f"after {DEADLINE:.0f}s Prometheus still does not have {what}:\n{self.log()[-3000:]}"
            time.sleep(0.25)


@contextmanager
def running_prometheus(config: dict[str, Any], directory: Path) -> Iterator[Prometheus]:
    """Run ``prometheus`` with ``config``, its data in ``directory``, until the block ends."""
    binary = tool("prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log_path = directory / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + DEADLINE
        while not _ready(prometheus.url):
            assert process.poll() is None, f"prometheus exited with {process.returncode}:\n{prometheus.log()}"
            assert time.monotonic() < deadline, f"prometheus not ready after {DEADLINE:.0f}s:\n{prometheus.log()}"
            time.sleep(0.1)
        yield prometheus
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _ready(url: str) -> bool:
    try:
        return requests.get(url + "/-/ready", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False
