"""The operators' commands of the monitoring work refuse bad options with exit 2, and print hostile names escaped."""

from __future__ import annotations

import pytest

from tests.support.cli import run_cli

# The options are refused before any storage is touched: one database is enough.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BAD_OPTIONS = {
    "ping-worker timeout zero": ("ping-worker", "--timeout", "0"),
    "ping-worker timeout not a number": ("ping-worker", "--timeout", "nan"),
    "ping-worker timeout too long": ("ping-worker", "--timeout", "1e9"),
    "ping-worker timeout words": ("ping-worker", "--timeout", "soon"),
    "status interval zero": ("status", "--watch", "--interval", "0"),
    "status interval not a number": ("status", "--watch", "--interval", "nan"),
    "status interval infinite": ("status", "--watch", "--interval", "inf"),
    "status watch with json": ("status", "--watch", "--json"),
}


@pytest.mark.parametrize("args", BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_bad_options_are_refused_with_exit_2_and_no_traceback(env: dict[str, str], args: tuple[str, ...]) -> None:
    result = run_cli(env, *args)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output


def test_a_hostile_worker_name_is_printed_escaped(env: dict[str, str]) -> None:
    result = run_cli(env, "ping-worker", "--name", "evil\x1b[31m\nname@host", "--timeout", "1")
    assert result.returncode == 1, result.output
    assert "\x1b" not in result.output
    assert "evil\\x1b[31m\\nname@host did not answer" in result.output
