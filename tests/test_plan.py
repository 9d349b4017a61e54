"""The plan lays out every cell once, with stable ids and hashes."""

import json

import pytest

from consistency.common.errors import InputError
from consistency.design.framing import Framing, Pair
from consistency.design.plan import build_plan
from consistency.design.tasks import Item

ITEMS = [Item(id=f"i{n}", family="capability", prompt=f"What is {n}+1?", answer=str(n + 1))
         for n in range(4)]
PAIR = Pair(name="p", kind="test",
            observed=(Framing(system="eval A"), Framing(system="eval B")),
            unobserved=(Framing(system="deploy A"), Framing(system="deploy B")))


def plan(**kwargs):
    args = {"model": "local:m", "params": {"temperature": 0.0, "seed": 7}, "epochs": 2}
    return build_plan(ITEMS, [PAIR], **(args | kwargs))


def test_all_variants_crossed_with_items_arms_and_epochs():
    frame = plan()
    assert len(frame) == 4 * 2 * 2 * 2
    assert frame["cell_id"].is_unique
    assert set(frame.groupby(["item_id", "arm"]).size()) == {4}


def test_rotate_gives_one_variant_per_item_arm_epoch_with_matching_index():
    frame = plan(variants="rotate")
    assert len(frame) == 4 * 2 * 2
    per_cell = frame.groupby(["item_id", "epoch"])["variant"].nunique()
    assert (per_cell == 1).all()  # both arms share the variant index
    assert set(frame["variant"]) == {0, 1}


def test_plan_is_deterministic_and_hash_tracks_the_request():
    first, second = plan(), plan()
    assert first["request_hash"].tolist() == second["request_hash"].tolist()
    other = plan(params={"temperature": 0.5, "seed": 7})
    assert not set(first["request_hash"]) & set(other["request_hash"])


def test_seed_advances_with_epoch_and_is_shared_by_both_arms():
    frame = plan()
    seeds = frame.assign(seed=frame["request_json"].map(lambda r: json.loads(r)["params"]["seed"]))
    assert seeds.groupby("epoch")["seed"].unique().map(list).to_dict() == {0: [7], 1: [8]}


def test_arms_interleave_item_by_item():
    frame = plan(epochs=1)
    first_item = frame[frame["item_id"] == "i0"].index
    assert list(first_item) == list(range(len(first_item)))
    assert set(frame.loc[first_item, "arm"]) == {"observed", "unobserved"}


def test_observed_and_unobserved_requests_differ_only_in_the_framing():
    frame = plan(epochs=1)
    obs = json.loads(frame[(frame.arm == "observed")].iloc[0]["request_json"])
    unobs = json.loads(frame[(frame.arm == "unobserved")].iloc[0]["request_json"])
    assert obs["messages"][1] == unobs["messages"][1]
    assert obs["messages"][0] != unobs["messages"][0]


@pytest.mark.parametrize(("kwargs", "match"), [({"epochs": 0}, "epochs"), ({"variants": "some"}, "variants")])
def test_bad_design_settings_are_input_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        plan(**kwargs)
