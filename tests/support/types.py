"""Types of the fixtures that hand a test a function, for the tests' annotations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from publisher.core.settings import Settings
from tests.support.workers import WorkerProcess

#: ``serve_web``: start the real web app for these settings, return its base URL.
ServeWeb = Callable[[Settings], str]


class StartWorker(Protocol):
    """``start_worker``: start a real ``newsletter worker`` with this environment and extra arguments, ready."""

    def __call__(self, env: dict[str, str], *extra: str) -> WorkerProcess: ...
