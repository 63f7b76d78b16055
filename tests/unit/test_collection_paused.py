"""The batch pauses Python's cyclic collector per stage: paused inside, restored and swept after."""

import gc
import weakref

from perfectmatch.pipeline import collection_paused


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_paused_inside_then_enabled_and_cycles_made_inside_are_freed() -> None:
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        ref = weakref.ref(_Node())
        assert ref() is not None  # the cycle survives while paused
    assert gc.isenabled()
    assert ref() is None  # swept by the collection at the end


def test_restored_when_the_stage_raises() -> None:
    try:
        with collection_paused():
            raise RuntimeError("stage failed")
    except RuntimeError:
        pass
    assert gc.isenabled()


def test_a_caller_that_disabled_the_collector_keeps_it_disabled() -> None:
    gc.disable()
    try:
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
