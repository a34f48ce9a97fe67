"""The cyclic collector is paused only inside bulk work, and comes back however it ends."""

import gc

import pytest

from visgrad.document import collector, files
from visgrad.document.model import GraphDocument


@pytest.fixture
def collecting():
    was = gc.isenabled()
    gc.enable()
    yield
    if was:  # as it was, whatever the test did: a test that turns it off must not leak that
        gc.enable()
    else:
        gc.disable()


def test_paused_turns_the_collector_off_inside_and_back_on_after(collecting):
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():  # nested: the inner block must not turn it back on
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_paused_restores_the_collector_after_an_exception(collecting):
    with pytest.raises(ValueError), collector.paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_paused_leaves_a_disabled_collector_disabled(collecting):
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()


def test_loading_a_file_restores_the_collector_when_the_file_is_good_or_bad(collecting):
    doc = GraphDocument()
    doc.add_node("Tensor", label="x", value="[1.0, 2.0]")
    assert files.loads(files.dumps(doc)) == doc
    assert gc.isenabled()
    with pytest.raises(files.GraphFileError, match="not a visgrad graph"):
        files.loads('{"format": "something else", "schema": 1}')
    assert gc.isenabled()
    with pytest.raises(files.GraphFileError):
        files.loads("{not json")
    assert gc.isenabled()
