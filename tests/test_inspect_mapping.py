"""The mapping rules of ``import-inspect`` on reader records built here (no Inspect needed)."""

from __future__ import annotations

import pandas as pd
import pytest

from consistency.common.errors import InputError
from consistency.interop.inspect_mapping import ImportMapping, as_text, printable
from consistency.interop.inspect_run import build_frames, counts, escape

LOGS = [{"log": 0, "source": 0, "path": "obs.eval", "model": "openai/m",
         "task_args": {"condition": "observed"}},
        {"log": 1, "source": 1, "path": "unobs.json", "model": "openai/m",
         "task_args": {"condition": "unobserved"}}]


def sample(log: int, sid, epoch: int = 1, score=1.0, **extra) -> dict:
    row = {"log": log, "source": log, "id": sid, "epoch": epoch, "error": None, "limit": None,
           "input_tokens": 3, "output_tokens": 2, "text": "", "score_match": score}
    return row | extra


def frames(rows: list[dict], mapping: ImportMapping | None = None):
    mapping = mapping or ImportMapping(sources=("observed", "unobserved"))
    return build_frames(pd.DataFrame(rows), LOGS, [], mapping)


def test_samples_are_matched_on_id_and_epoch_and_the_rest_kept_as_unmatched():
    rows = [sample(0, "a"), sample(1, "a"), sample(0, "a", epoch=2), sample(0, 7), sample(1, 7)]
    frame, roles, _ = frames(rows)
    matched = frame.set_index(["item_id", "arm", "epoch"])["matched"]
    assert not matched[("a", "observed", 1)]  # Inspect's epoch 2 has no unobserved twin
    assert matched[("a", "observed", 0)] and matched[("7", "unobserved", 0)]
    assert roles == {"score_match": "accuracy"}
    assert counts(frame)["unmatched"] == 1


def test_failed_samples_are_failures_and_never_scored():
    rows = [sample(0, "a", error="boom"), sample(1, "a"), sample(0, "b", limit="token"),
            sample(1, "b")]
    frame, _, _ = frames(rows)
    failed = frame[frame["status"] == "error"]
    assert sorted(failed["error_kind"]) == ["error", "limit_token"]
    assert failed["score_match"].isna().all()
    assert counts(frame)["failed_by_kind"] == {"error": 1, "limit_token": 1}


def test_variants_are_ranked_within_their_pair_and_arm():
    rows = [sample(0, "a", **{"field:metadata.wording": w}) for w in ("b", "a")] + \
           [sample(1, "a", **{"field:metadata.wording": "z"})]
    mapping = ImportMapping(sources=("observed", "unobserved"), variant_from="metadata.wording")
    frame, _, _ = build_frames(pd.DataFrame(rows), LOGS, ["wording"], mapping)
    by_cell = dict(zip(frame["arm"] + frame["variant"].astype(str), frame["cell_id"]))
    assert set(by_cell) == {"observed0", "observed1", "unobserved0"}


def test_task_argument_values_choose_the_arm():
    rows = [sample(0, "a", score=0.0), sample(1, "a")]
    mapping = ImportMapping(arm_from="task_arg.condition", observed_value="observed",
                            unobserved_value="unobserved")
    frame, _, _ = frames(rows, mapping)
    assert dict(zip(frame["arm"], frame["score_match"])) == {"observed": 0.0, "unobserved": 1.0}


def test_a_role_for_a_metric_that_is_not_imported_is_refused():
    mapping = ImportMapping(sources=("observed", "unobserved"), roles={"score_x": "refusal"})
    with pytest.raises(InputError, match="score_x"):
        frames([sample(0, "a"), sample(1, "a")], mapping)


def test_field_values_compare_as_command_line_text():
    assert (as_text("eval"), as_text(True), as_text(3), as_text(None)) == \
        ("eval", "true", "3", "null")


def test_labels_and_report_cells_carry_no_control_characters_or_markup():
    assert printable("a\x1b[31mb\n") == "a\\x1b[31mb\\x0a"
    assert escape("x|<b>`") == "x\\|&lt;b&gt;\\`"
