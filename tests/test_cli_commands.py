"""The ``newsletter`` root: every command listed by ``--help``, and a command's help loads that command's module only."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys

import typer

import publisher.cli
from publisher.cli.main import COMMANDS, load_command
from tests.support.cli import run_cli

#: Command modules of publisher.cli, each with the Typer apps it defines.
APP_MODULES = {entry.module for entry in COMMANDS.values()}


def wide_env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "TERM": "dumb"}


def test_every_typer_app_of_the_package_is_reachable_from_the_root() -> None:
    for info in pkgutil.iter_modules(publisher.cli.__path__):
        if info.name == "main":
            continue
        module = importlib.import_module(f"publisher.cli.{info.name}")
        apps = {name for name, value in vars(module).items() if isinstance(value, typer.Typer)}
        registered = {entry.app for entry in COMMANDS.values() if entry.module == info.name}
        assert apps == registered, f"publisher.cli.{info.name}: Typer apps {apps}, in COMMANDS {registered}"


def test_each_command_name_is_a_command_its_module_defines() -> None:
    for name in COMMANDS:
        assert load_command(name).name == name


def test_help_lists_every_command_in_order() -> None:
    result = run_cli(wide_env(), "--help")
    assert result.returncode == 0, result.output
    listed = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ ") and len(line.split()) > 1]
    commands = [name for name in listed if name in COMMANDS]
    assert commands == list(COMMANDS), result.output


def test_publish_help_imports_no_other_command_module() -> None:
    script = (
        "import json, sys\n"
        "from publisher.cli.main import main\n"
        "sys.argv = ['newsletter', 'publish', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], env=wide_env(), capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    help_text, _, last = completed.stdout.rstrip().rpartition("\n")
    report = json.loads(last)
    assert report["code"] in (0, None)
    assert "Usage: newsletter publish [OPTIONS]" in help_text
    assert "--draft" in help_text
    loaded = set(report["modules"])
    assert "publisher.cli.publish" in loaded
    others = {f"publisher.cli.{module}" for module in APP_MODULES - {"publish"}}
    assert not others & loaded, sorted(others & loaded)
    assert not {"publisher.cli.publishing", "publisher.db.models", "publisher.content.rendering"} & loaded


def test_an_unknown_command_is_a_usage_error() -> None:
    result = run_cli(wide_env(), "publsh")
    assert result.returncode == 2
    assert "publish" in result.output
