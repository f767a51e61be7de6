"""docker-compose.yml and the Dockerfile, checked without Docker.

Docker cannot run here, so the compose file is read as data, and each of the
project's services is run as a local process with the compose environment
translated to the test Redis and PostgreSQL. A command, option or variable the
CLI does not understand then fails here instead of on an operator's machine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from sqlalchemy import make_url

from tests.support.cli import run_cli
from tests.support.workers import WORKER_READY_TIMEOUT

PROJECT = Path(__file__).resolve().parent.parent
VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")  # ${NAME}, ${NAME:-default}, ${NAME:?message}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((PROJECT / "docker-compose.yml").read_text(encoding="utf-8")))


def project_services(*, one_shot: bool | None = None) -> dict[str, dict[str, Any]]:
    """Services built from this project; one-shot ones are those behind a profile."""
    services = {name: s for name, s in compose()["services"].items() if "build" in s}
    return {n: s for n, s in services.items() if one_shot is None or ("profiles" in s) == one_shot}


def dockerfile(instruction: str) -> list[str]:
    """Arguments of every INSTRUCTION line of the Dockerfile (continuations joined)."""
    text = (PROJECT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(instruction + " ")]


def local_environment(service: dict[str, Any], app: Path, translated: dict[str, str]) -> dict[str, str]:
    """The service's environment (image ENV, then compose), pointed at local services and at APP for the image's WORKDIR."""
    workdir = dockerfile("WORKDIR")[-1].rstrip("/")
    image_env = dict(pair.split("=", 1) for line in dockerfile("ENV") for pair in line.split())
    environment = {**image_env, **service["environment"]}
    assert set(translated) <= set(environment), "the test sets variables the compose file does not"

    def resolve(match: re.Match[str]) -> str:
        assert match[2] != "?", f"${{{match[1]}}} is required by the compose file: the test must translate it"
        return match[3] or ""

    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
    for name, value in environment.items():
        value = translated.get(name) or VARIABLE.sub(resolve, str(value))
        env[name] = str(app / value.removeprefix(workdir + "/")) if value.startswith(workdir + "/") else value
    env["PYTHONPATH"] = str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    return env


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """Stands in for the image's /app: the example files the commands name, by relative path."""
    directory = tmp_path / "app"
    directory.mkdir()
    (directory / "examples").symlink_to(PROJECT / "examples", target_is_directory=True)
    return directory


@pytest.fixture
def translated(redis_url: str, redis_client: redis.Redis, postgres_url: str) -> dict[str, str]:
    """Compose's service hostnames become the test's (flushed) Redis and a fresh PostgreSQL database."""
    return {"NEWSLETTER_REDIS_URL": redis_url, "NEWSLETTER_DATABASE_URL": postgres_url, "NEWSLETTER_SECRET_KEY": "compose-test-secret"}


def test_redis_persists_queued_work_and_never_evicts_it() -> None:
    redis_service = compose()["services"]["redis"]
    command = redis_service["command"]
    command = " ".join(command) if isinstance(command, list) else command
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert any(volume.endswith(":/data") for volume in redis_service["volumes"])
    assert "redis-cli" in redis_service["healthcheck"]["test"]


def test_postgres_matches_the_database_url_of_the_project() -> None:
    """A healthcheck, so services start after it accepts connections; credentials the URL agrees with."""
    postgres = compose()["services"]["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    wanted = ("postgres", *(postgres["environment"][f"POSTGRES_{key}"] for key in ("USER", "PASSWORD", "DB")))
    for service in project_services().values():
        url = make_url(service["environment"]["NEWSLETTER_DATABASE_URL"])
        assert (url.host, url.username, url.password, url.database) == wanted


def test_project_services_share_one_image_one_configuration_and_the_cli() -> None:
    """One image and the same keys everywhere: links signed by the publisher must verify in the worker."""
    script = next(iter(tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]))
    services = project_services()
    assert project_services(one_shot=False), "no long-running service is built from the project"
    for build in (service["build"] for service in services.values()):
        context, file = (build, "Dockerfile") if isinstance(build, str) else (build["context"], build.get("dockerfile", "Dockerfile"))
        assert (PROJECT / context / file).resolve() == PROJECT / "Dockerfile"
    environments = [service["environment"] for service in services.values()]
    assert all(env.keys() == environments[0].keys() for env in environments)
    for name in ("NEWSLETTER_REDIS_URL", "NEWSLETTER_DATABASE_URL", "NEWSLETTER_SECRET_KEY"):
        assert len({env[name] for env in environments}) == 1, f"services disagree on {name}"
    for name, service in services.items():
        assert service["command"][0] == script, f"{name} does not run the {script} command"
    assert dockerfile("CMD")[-1].startswith(f'["{script}"')


def test_dockerfile_copies_only_files_that_exist() -> None:
    """A missing COPY source fails `docker build` before anything else runs."""
    for line in dockerfile("COPY"):
        for source in line.split()[:-1]:
            assert (PROJECT / source).exists(), f"the Dockerfile copies {source}, which is not in the project"


#: What each long-running service logs once it is up.
READY = {"worker": " ready.", "beat": "beat: Starting...", "flower": "Visit me at", "web": "Uvicorn running on"}


def test_every_long_running_service_has_a_readiness_check() -> None:
    assert set(project_services(one_shot=False)) == set(READY)


@pytest.mark.parametrize("name", sorted(project_services(one_shot=False)))
def test_long_running_service_comes_up_and_stops_on_sigterm(name: str, app: Path, translated: dict[str, str]) -> None:
    """SIGTERM to the main process only, as `docker compose stop` sends it."""
    service = project_services()[name]
    log_path = app.parent / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "publisher", *service["command"][1:]],
            env=local_environment(service, app, translated),
            cwd=app,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + WORKER_READY_TIMEOUT
            while READY[name] not in log_path.read_text(errors="replace"):
                assert process.poll() is None, f"{name} exited with {process.returncode}:\n{log_path.read_text()}"
                assert time.monotonic() < deadline, f"{name} not ready after {WORKER_READY_TIMEOUT}s:\n{log_path.read_text()}"
                time.sleep(0.1)
            _passes_its_healthcheck(service, local_environment(service, app, translated), app)
            process.send_signal(signal.SIGTERM)
            # Flower (tornado) exits with the signal's status; the workers exit 0 after a warm shutdown.
            assert process.wait(30) in (0, -signal.SIGTERM, 128 + signal.SIGTERM), log_path.read_text()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _passes_its_healthcheck(service: dict[str, Any], env: dict[str, str], app: Path) -> None:
    """Run the service's compose healthcheck here, as Docker runs it in the container, once the service is up."""
    if "healthcheck" not in service:
        return
    kind, program, *arguments = service["healthcheck"]["test"]
    assert kind == "CMD"
    command = {"newsletter": [sys.executable, "-m", "publisher"], "python": [sys.executable]}[program]
    deadline = time.monotonic() + WORKER_READY_TIMEOUT
    while True:
        # A service logs that it is up a moment before it answers (a worker's first ping, the app's first request).
        result = subprocess.run([*command, *arguments], env=env, cwd=app, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return
        assert time.monotonic() < deadline, f"the healthcheck keeps failing: {result.stdout}{result.stderr}"
        time.sleep(1)


def test_the_web_and_worker_healthchecks_are_readiness_checks() -> None:
    services = compose()["services"]
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"][1:3] == ["newsletter", "ping-worker"]


def test_one_shot_publisher_publishes_the_example_recap(app: Path, translated: dict[str, str]) -> None:
    """The documented sequence: import the example subscribers, then run the publisher's own command."""
    service = project_services(one_shot=True)["publisher"]
    env = local_environment(service, app, translated)
    imported = run_cli(env, "subscribers", "import", "examples/subscribers.csv", "--list", "attendees", cwd=app)
    assert imported.returncode == 0, imported.output
    published = run_cli(env, *service["command"][1:], cwd=app)
    assert published.returncode == 0, published.output
    assert re.fullmatch(r"campaign \d+", published.last_line), published.output
