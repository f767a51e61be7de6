"""``newsletter status`` reads well at any terminal width: no header, title or count is ever split across lines."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from publisher.cli.status_report import COUNT_LABELS
from publisher.db.engine import Database
from publisher.db.models import Delivery, DeliveryState
from tests.support.audience import CSV
from tests.support.cli import run_cli
from tests.support.recaps import RECAP

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: 25 recipients spread over every state, each count different from the others.
SPREAD = {
    DeliveryState.SENT: 7,
    DeliveryState.FAILED: 5,
    DeliveryState.SUPPRESSED: 4,
    DeliveryState.IN_DOUBT: 3,
    DeliveryState.CANCELLED: 2,
    DeliveryState.SENDING: 1,
    DeliveryState.PENDING: 3,
}


@pytest.fixture
def spread(env: dict[str, str], db: Database) -> int:
    """A campaign of 25 records in every state; its id."""
    assert run_cli(env, "subscribers", "import", str(CSV), "--list", "attendees").returncode == 0
    published = run_cli(env, "publish", RECAP, "--list", "attendees")
    assert published.returncode == 0, published.output
    with db.transaction() as session:
        ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
        assert len(ids) == sum(SPREAD.values())
        start = 0
        for state, count in SPREAD.items():
            session.execute(update(Delivery).where(Delivery.id.in_(ids[start : start + count])).values(state=state))
            start += count
    return int(published.last_line.split()[1])


def on_one_line(output: str, text: str) -> bool:
    return any(text in line for line in output.splitlines())


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_status_at_narrow_widths_keeps_every_label_and_count_whole_on_one_line(env: dict[str, str], spread: int, columns: int) -> None:
    result = run_cli({**env, "COLUMNS": str(columns)}, "status")
    assert result.returncode == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= columns for line in lines), [line for line in lines if len(line) > columns]
    assert on_one_line(result.output, f"#{spread}")
    assert on_one_line(result.output, "list attendees")
    for state, count in SPREAD.items():
        assert on_one_line(result.output, f"{COUNT_LABELS[state.value]} {count}"), (state, result.output)
    assert on_one_line(result.output, "total 25")


def test_status_wide_enough_shows_the_table_with_whole_headers_and_cells(env: dict[str, str], spread: int) -> None:
    result = run_cli({**env, "COLUMNS": "250"}, "status")
    assert result.returncode == 0, result.output
    header = next(line for line in result.output.splitlines() if "suppressed" in line)
    for column in ("id", "title", "list", "status", *COUNT_LABELS.values(), "total", "progress"):
        assert f" {column} " in header, column
    row = next(line for line in result.output.splitlines() if line.startswith(f"│ {spread} "))
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[4 : 4 + len(SPREAD)] == [str(SPREAD[DeliveryState(state)]) for state in COUNT_LABELS]
    assert cells[4 + len(SPREAD)] == "25"


def test_status_json_is_unchanged_by_the_width(env: dict[str, str], spread: int) -> None:
    narrow = run_cli({**env, "COLUMNS": "60"}, "status", "--json")
    wide = run_cli({**env, "COLUMNS": "250"}, "status", "--json")
    assert narrow.returncode == wide.returncode == 0
    assert narrow.output == wide.output
    assert '"in_doubt": 3' in narrow.output
