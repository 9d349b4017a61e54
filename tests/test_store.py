"""The journal keeps every response, never overwrites one, and refuses a changed design."""

import pytest

from consistency.common.errors import InputError
from consistency.run.store import Journal, ResponseRecord


def test_responses_survive_reopening(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.record(ResponseRecord("a", "h", "ok", text="hi"))
        journal.record(ResponseRecord("b", "h", "error", error_kind="timeout"))
    with Journal(tmp_path / "j.sqlite") as journal:
        assert journal.done_cells() == {"a"}
        frame = journal.frame().set_index("cell_id")
    assert frame.loc["a", "text"] == "hi"
    assert frame.loc["b", "error_kind"] == "timeout"


def test_failure_is_replaced_by_a_later_response_and_attempts_counted(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.record(ResponseRecord("a", "h", "error", error_kind="rate_limit"))
        journal.record(ResponseRecord("a", "h", "ok", text="done"))
        row = journal.frame().iloc[0]
    assert (row.status, row.text, row.attempts, row.error_kind) == ("ok", "done", 2, None)


def test_a_response_is_never_overwritten(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.record(ResponseRecord("a", "h", "ok", text="first"))
        journal.record(ResponseRecord("a", "h", "error", error_kind="timeout"))
        journal.record(ResponseRecord("a", "h", "ok", text="second"))
        frame = journal.frame()
    assert frame["text"].tolist() == ["first"]


def test_binding_a_different_design_is_refused(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        assert journal.bind({"model": "a", "epochs": 1}) is True
        assert journal.bind({"model": "a", "epochs": 1}) is False
        with pytest.raises(InputError, match="epochs"):
            journal.bind({"model": "a", "epochs": 2})
