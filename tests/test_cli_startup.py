"""A command's modules load with the cyclic collector paused; it runs again, and sees less, once they have loaded."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from publisher.cli.startup import loading


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    yield
    # loading() freezes this test process's objects: give them back to the collector.
    gc.unfreeze()
    gc.enable()


def test_the_collector_is_paused_while_loading_and_resumed_after() -> None:
    with loading():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_what_was_loaded_is_frozen_out_of_the_collectors_sight() -> None:
    gc.unfreeze()
    with loading():
        built: list[list[int]] = [[number] for number in range(10)]
    assert gc.get_freeze_count() >= len(built)
    # gc.get_objects() lists the generations a collection walks, not the frozen ones.
    walked = {id(item) for item in gc.get_objects()}
    assert not walked & {id(item) for item in built}
    after = [[0]]
    assert id(after[0]) in {id(item) for item in gc.get_objects()}


def test_the_collector_resumes_after_an_import_that_fails() -> None:
    with pytest.raises(ModuleNotFoundError), loading():
        import publisher.no_such_module  # type: ignore[import-not-found]  # noqa: F401
    assert gc.isenabled()


def test_a_nested_loading_leaves_resuming_to_the_outer_one() -> None:
    with loading():
        with loading():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_paused_by_the_caller_stays_paused() -> None:
    gc.disable()
    with loading():
        pass
    assert not gc.isenabled()
