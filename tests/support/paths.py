"""Where the project, its examples and the test fixtures are on disk."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT / "examples"
FIXTURES = PROJECT / "tests" / "fixtures"
