"""What a running ``newsletter worker`` loads: what sending needs, and that once, before its pool processes fork.

The interpreter reports every import in the worker's log
(PYTHONPROFILEIMPORTTIME), its pool processes' included: they are forked
from the worker's main process, not started afresh.
"""

from __future__ import annotations

import json
import re

import pytest

from publisher.core.settings import Settings
from publisher.db.engine import Database
from tests.support.campaigns import publish_to_attendees
from tests.support.cli import run_cli
from tests.support.types import StartWorker

#: One line of the import report: ``import time: <self> | <cumulative> | <indented module name>``.
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)\s*$", re.MULTILINE)
#: Stage-1 rendering and the lint run at publish time; the recap and automatic-send code only when a sweep finds
#: work for it; Celery's root command (its other commands, an interactive shell, Flower) never; nor svix's API
#: client (outgoing webhooks are signed by ``standardwebhooks``; svix is the web app's, for Resend's webhooks).
NEVER = (
    "jinja2",
    "premailer",
    "markdown_it",
    "cssutils",
    "publisher.content.rendering.layout",
    "publisher.content.lint",
    "publisher.events.recaps",
    "publisher.sending",
    "celery.bin.celery",
    "click_repl",
    "flower",
    "svix",
)


def loaded(modules: list[str], packages: tuple[str, ...]) -> set[str]:
    return {module for module in modules if any(module == name or module.startswith(f"{name}.") for name in packages)}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sending_worker_never_loads_the_renderer_the_lint_or_celerys_other_commands(
    settings: Settings, db: Database, env: dict[str, str], start_worker: StartWorker
) -> None:
    # Written, not enqueued: only the worker's sweep (its event step, then the
    # dispatch) enqueues it, so once it is sent a sweep has run as well.
    created = publish_to_attendees(settings, db)
    worker = start_worker({**env, "PYTHONPROFILEIMPORTTIME": "1"})
    done = run_cli(env, "status", str(created.id), "--wait", "--timeout", "60")
    assert done.returncode == 0, done.output
    shown = run_cli(env, "status", str(created.id), "--json")
    assert json.loads(shown.output)["campaigns"][0]["deliveries"]["sent"] == created.recipients
    worker.stop()
    modules = IMPORTED.findall(worker.log())
    assert {"workers.delivery.batch", "workers.sweeper"} <= set(modules), worker.log()[-2000:]
    assert loaded(modules, NEVER) == set()
    # Every pool process asks for its parent-death signal through cffi, whose
    # C parser is built once in the main process and inherited.
    assert modules.count("cffi.cparser") <= 1
