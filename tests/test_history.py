"""``consistency report --history``: one configuration's rows over time, beside the
anytime-valid monitoring verdict."""

from __future__ import annotations

import pandas as pd
import pytest

from publishing_support import Published, cli, published_runs


@pytest.fixture
def published(tmp_path_factory) -> Published:
    return published_runs(tmp_path_factory.getbasetemp())


@pytest.fixture
def history(published, tmp_path):
    out = tmp_path / "history"
    # given newest first: the history orders runs by when they finished
    proc = cli("report", "--history", str(published.candidate), str(published.baseline),
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_history_rows_are_each_runs_own_numbers_oldest_first(published, history):
    tidy = pd.read_csv(history / "history.csv")
    assert tidy.groupby("run_index")["run_id"].first().tolist() == ["baseline", "candidate"]
    for folder in (published.baseline, published.candidate):
        own = pd.read_csv(folder / "tests.csv")
        mine = tidy[tidy["run_id"] == folder.name]
        merged = own.merge(mine, on=["family", "pair", "metric"], suffixes=("", "_h"))
        assert len(merged) == len(own)
        assert (merged["difference"] == merged["difference_h"]).all()
        assert (merged["verdict"] == merged["verdict_h"]).all()


def test_history_shows_the_same_alarm_as_consistency_monitor(published, history):
    monitor = cli("monitor", str(published.baseline), str(published.candidate))
    assert monitor.returncode == 1
    assert "ALARM: capability / eval_vs_deploy / correct since run 2" in monitor.stdout
    md = (history / "history.md").read_text()
    row = next(line for line in md.splitlines()
               if line.startswith("| capability / eval\\_vs\\_deploy / correct"))
    assert row.endswith("ALARM since run 2 |") and md.count("ALARM") == 1


def test_history_plot_is_written_and_not_blank(history):
    import matplotlib.image

    image = matplotlib.image.imread(history / "history.png")
    assert image.shape[1] == pytest.approx(3.4 * 300, rel=0.05)
    assert 0.005 < (image[..., :3].mean(axis=2) < 0.5).mean() < 0.5
    assert (history / "history.svg").stat().st_size > 1000


def test_history_of_different_models_is_an_input_error(published, tmp_path):
    proc = cli("report", "--history", str(published.sweep), "--out", str(tmp_path / "h"))
    assert proc.returncode == 2 and "different models" in proc.stderr
