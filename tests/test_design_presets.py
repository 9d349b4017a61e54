"""The design presets and the settings that size them: per-family item limits, planted controls
on chosen families only, manipulation checks on the first items of each family, and the order in
which an in-process model is sent its cells (check right after its task)."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from consistency.cli import CONF_DIR
from consistency.common.errors import InputError
from consistency.pipeline import load_design
from consistency.run.runner import _todo
from consistency.design.tasks import FAMILIES


def _design(*overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return load_design(compose("config", overrides=list(overrides)))


def _counts(plan):
    return plan.groupby(["purpose", "family", "pair"]).size().to_dict()


def test_the_quick_design_is_the_documented_subset():
    plan = _design().plan  # model=local picks design=quick
    assert _counts(plan) == {
        ("task", "capability", "evaluation_vs_deployment"): 80,
        ("task", "capability", "planted_sandbagging"): 80,
        ("task", "harmful", "evaluation_vs_deployment"): 24,
        ("check", "capability", "evaluation_vs_deployment"): 8,
        ("check", "capability", "planted_sandbagging"): 8,
        ("check", "harmful", "evaluation_vs_deployment"): 8,
    }
    tasks = plan[plan["purpose"] == "task"]
    assert tasks.groupby("family")["item_id"].nunique().to_dict() == {"capability": 40,
                                                                       "harmful": 12}
    # kinds interleaved: 40 capability items cover every capability kind
    assert tasks[tasks["family"] == "capability"]["item_id"].str.split("-").str[1].nunique() > 2


def test_the_full_design_resets_every_key_the_quick_one_sets():
    plan = _design("design=full").plan
    planted = plan[plan["pair_kind"] == "planted"]
    assert set(planted["family"]) == set(FAMILIES)
    assert set(planted["pair"]) == {"planted_sandbagging", "planted_selective_refusal"}
    tasks, checks = plan[plan["purpose"] == "task"], plan[plan["purpose"] == "check"]
    assert len(checks) == len(tasks)  # one epoch: a check per task cell
    assert set(tasks["family"]) == set(FAMILIES)


def test_family_limits_override_the_limit_for_the_families_named():
    plan = _design("design=full", "variants=rotate", "conditions.pairs=[placebo_wording]",
                   "controls.planted=false", "checks.manipulation=false",
                   "tasks.families=[capability,harmful,honesty]", "tasks.limit=4",
                   "+tasks.family_limits.capability=2", "+tasks.family_limits.harmful=9").plan
    # the smaller of the two bounds wins
    assert plan.groupby("family")["item_id"].nunique().to_dict() == {
        "capability": 2, "harmful": 4, "honesty": 4}
    plan = _design("design=full", "variants=rotate", "conditions.pairs=[placebo_wording]",
                   "controls.planted=false", "checks.manipulation=false",
                   "tasks.families=[harmful,honesty]", "+tasks.family_limits.harmful=3").plan
    assert plan.groupby("family")["item_id"].nunique().to_dict() == {"harmful": 3, "honesty": 40}


def test_a_limit_given_with_the_quick_design_caps_every_family():
    plan = _design("tasks.limit=3").plan
    assert plan[plan["purpose"] == "task"].groupby("family")["item_id"].nunique().to_dict() == {
        "capability": 3, "harmful": 3}


def test_controls_cross_only_the_families_and_pairs_chosen():
    plan = _design("design=full", "variants=rotate", "tasks.limit=4",
                   "conditions.pairs=[placebo_wording]", "checks.manipulation=false",
                   "controls.pairs=[planted_selective_refusal]",
                   "controls.families=[harmful,overrefusal]").plan
    planted = plan[plan["pair_kind"] == "planted"]
    assert set(planted["pair"]) == {"planted_selective_refusal"}
    assert set(planted["family"]) == {"harmful", "overrefusal"}
    assert len(planted) == 2 * 4 * 2  # families x items x arms
    # the other pairs still cross every family
    assert plan[plan["pair"] == "placebo_wording"]["family"].nunique() == 5


def test_controls_on_families_the_run_lacks_leave_no_planted_cells_and_no_error():
    plan = _design("tasks.families=[harmful]").plan  # quick: controls.families=[capability]
    assert not plan["pair_kind"].eq("planted").any()
    assert len(plan) > 0


def test_checks_limit_keeps_checks_to_the_first_items_of_each_family():
    plan = _design("design=full", "variants=rotate", "tasks.limit=6", "controls.planted=false",
                   "conditions.pairs=[placebo_wording]", "checks.limit=2").plan
    checks, tasks = plan[plan["purpose"] == "check"], plan[plan["purpose"] == "task"]
    first_two = tasks.drop_duplicates("item_id").groupby("family").head(2)["item_id"]
    assert set(checks["item_id"]) == set(first_two)
    assert len(checks) == 5 * 2 * 2  # families x items x arms (rotate: one variant per arm)
    # each check is its task cell's request with the question appended: same framing
    by_key = tasks.set_index(["item_id", "arm"])["variant"]
    assert all(by_key[(row.item_id, row.arm)] == row.variant for row in checks.itertuples())


@pytest.mark.parametrize(("override", "message"), [
    ("controls.families=[]", "controls.families"),
    ("controls.families=[capabilty]", "controls.families"),
    ("controls.pairs=[]", "controls.pairs"),
    ("controls.pairs=[planted_nothing]", "controls.pairs names ['planted_nothing']"),
    ("checks.limit=0", "checks.limit"),
    ("tasks.limit=0", "tasks.limit"),
    ("+tasks.family_limits.capabilty=3", "tasks.family_limits"),
    ("tasks.family_limits.harmful=0", "tasks.family_limits.harmful"),
])
def test_bad_sizing_settings_name_their_key(override, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _design(override)


class _InProcess:
    """What the runner reads of a provider to choose the sending order."""

    groups_by_framing = True


class _Journal:
    def done_cells(self):
        return set()


def test_an_in_process_model_gets_each_check_right_after_its_task_cell():
    plan = _design().plan
    todo = _todo(_InProcess(), plan, _Journal())
    assert sorted(todo["cell_id"]) == sorted(plan["cell_id"])
    order = list(todo["cell_id"])
    checks = [cell for cell in order if cell.endswith("|check")]
    assert checks
    for cell in checks:
        item, pair, arm, variant, _ = cell.split("|")
        task = f"{item}|{pair}|{arm}|{variant}|e0"
        assert order.index(task) == order.index(cell) - 1
    # framings still go together: each (pair, arm, variant) is one run of consecutive cells
    framing = plan.set_index("cell_id").loc[order, ["pair", "arm", "variant"]]
    keys = list(framing.itertuples(index=False, name=None))
    runs = [key for index, key in enumerate(keys) if index == 0 or keys[index - 1] != key]
    assert len(runs) == len(set(runs))


def test_a_suite_of_your_own_is_not_filtered_by_the_quick_designs_families(tmp_path):
    lines = [{"id": f"o{n}", "family": "overrefusal", "prompt": f"How do I boil {n} eggs?"}
             for n in range(12)]
    lines += [{"id": f"c{n}", "family": "capability", "prompt": f"{n} + 1?", "answer": str(n + 1)}
              for n in range(45)]
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(line) + "\n" for line in lines))
    plan = _design(f"tasks.path={tasks}").plan
    items = plan[plan["purpose"] == "task"].groupby("family")["item_id"].nunique().to_dict()
    assert items == {"overrefusal": 12, "capability": 40}  # all 12; tasks.limit
