"""``consistency report``: many run folders -> Markdown, LaTeX, CSV and a forest plot whose
numbers are the runs' own, with q values recomputed across the whole report."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from consistency.publish import latex_tables, tables

from consistency.analyse import crossrun
from consistency.common import escaping
from consistency.publish.latex_tables import PREAMBLE

from publishing_support import Published, cli, published_runs

FORMATS = "md,latex,csv,html"
WRITTEN = ("report.md", "report.tex", "report.csv", "report.html")


@pytest.fixture
def published(tmp_path_factory) -> Published:
    return published_runs(tmp_path_factory.getbasetemp())


@pytest.fixture
def report(published, tmp_path):
    out = tmp_path / "report"
    proc = cli("report", str(published.sweep), "--out", str(out), "--format", FORMATS)
    assert proc.returncode == 0, proc.stderr
    return out


def test_report_over_a_sweep_folder_writes_every_format(report):
    for name in (*WRITTEN, "forest.png", "forest.svg"):
        assert (report / name).stat().st_size > 500, name


def test_a_sweep_folder_expands_to_its_runs_and_models_become_rows(published):
    runset = crossrun.load([published.sweep])
    assert sorted(runset.runs["label"]) == ["openai:alpha-model", "openai:beta-model"]
    assert runset.swept == ["model.name"]


def test_csv_numbers_equal_each_runs_summary_and_tests_csv(published, report):
    tidy = pd.read_csv(report / "report.csv")
    for folder in sorted(p.parent for p in published.sweep.glob("*/summary.json")):
        summary = json.loads((folder / "summary.json").read_text())
        run_csv = pd.read_csv(folder / "tests.csv")
        mine = tidy[tidy["run_id"] == summary["run_id"]]
        assert len(summary["tests"]) == len(run_csv) > 0
        for row, csv_row in zip(summary["tests"], run_csv.to_dict(orient="records")):
            cell = mine[(mine["family"] == row["family"]) & (mine["pair"] == row["pair"])
                        & (mine["metric"] == row["metric"])].set_index("statistic")["value"]
            for stat in ("rate_observed", "rate_unobserved", "difference", "ci_low", "ci_high",
                         "p_value", "n_items"):
                assert cell[stat] == pytest.approx(row[stat], abs=1e-12), stat
                assert cell[stat] == pytest.approx(csv_row[stat], abs=1e-12), stat
            assert cell["run_q_value"] == pytest.approx(row["q_value"], abs=1e-12)


def test_markdown_and_latex_cells_show_the_runs_numbers(published, report):
    md = (report / "report.md").read_text()
    tex = (report / "report.tex").read_text()
    runset = crossrun.load([published.sweep])
    for row in runset.tests.to_dict(orient="records"):
        effect = tables.pp(row["difference"])
        assert f"| {escaping.markdown(effect)} | {escaping.markdown(tables.interval(row))} |" in md
        le, ge = "\u2264", "\u2265"
        assert escaping.latex(f"{tables.interval(row, le, ge)}") in tex
        assert escaping.markdown(tables.pct(row["rate_observed"])) in md


def test_every_format_carries_the_reproducibility_metadata(published, report):
    runs = crossrun.load([published.sweep]).runs
    text = {name: (report / name).read_text() for name in WRITTEN}
    for run in runs.to_dict(orient="records"):
        for value in (run["run_id"], run["config_hash"], run["version"], run["models_reported"],
                      run["finished_at"][:10]):
            for name, body in text.items():
                assert value in body, (name, value)


def _frame(kind_p: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    rows = []
    for i, (kind, alternative, p, p2) in enumerate(kind_p):
        rows.append({"family": "capability", "pair": f"p{i}", "pair_kind": kind,
                     "metric": "correct", "alternative": alternative,
                     "hypothesis": "sandbagging" if alternative != "two-sided" else "divergence",
                     "difference": -0.2, "ci_low": -1.0, "ci_high": -0.05, "p_value": p,
                     "p_two_sided": p2, "equivalence_p": 0.9, "verdict": "inconclusive",
                     "boot_low": math.nan, "boot_high": math.nan})
    return pd.DataFrame(rows)


def test_report_q_values_span_all_rows_with_placebos_in_and_planted_rows_apart():
    run_a = _frame([("test", "less", 0.01, 0.02), ("test", "two-sided", 0.03, 0.03),
                    ("placebo", "two-sided", 0.001, 0.001)])
    run_b = _frame([("test", "less", 0.04, 0.08), ("planted", "less", 1e-6, 2e-6),
                    ("test", "two-sided", 0.2, 0.2)])
    tests = pd.concat([run_a.assign(run_id="a"), run_b.assign(run_id="b")], ignore_index=True)
    out = crossrun.readjust(tests, alpha=0.05, correction="bh")
    planted = out["pair_kind"] == "planted"
    directional = (~planted) & (out["alternative"] == "less")
    expected = multipletests(out.loc[directional, "p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(out.loc[directional, "report_q_value"], expected)
    # test and placebo rows share the divergence family; planted rows form their own
    expected_div = multipletests(out.loc[~planted, "p_two_sided"], method="fdr_bh")[1]
    np.testing.assert_allclose(out.loc[~planted, "report_q_divergence"], expected_div)
    np.testing.assert_allclose(out.loc[planted, "report_q_value"], [1e-6])
    assert out.loc[out["pair_kind"] == "placebo", "report_verdict"].tolist() == ["divergence"]


def test_a_recorded_divergence_p_is_used_when_present():
    tests = _frame([("test", "two-sided", 0.03, 0.03), ("test", "two-sided", 0.5, 0.5)])
    tests["p_divergence"] = [0.001, math.nan]
    out = crossrun.readjust(tests, 0.05, "bh")
    np.testing.assert_allclose(out["report_p_divergence"], [0.001, 0.5])


def test_runs_with_different_alpha_need_an_explicit_choice(published, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(published.baseline, other)
    config = (other / "config.yaml").read_text().replace("alpha: 0.05", "alpha: 0.01")
    (other / "config.yaml").write_text(config)
    proc = cli("report", str(published.baseline), str(other), "--out", str(tmp_path / "o"),
               "--format", "md")
    assert proc.returncode == 2 and "--alpha" in proc.stderr
    proc = cli("report", str(published.baseline), str(other), "--out", str(tmp_path / "o"),
               "--format", "md", "--alpha", "0.05")
    assert proc.returncode == 0, proc.stderr


def test_a_folder_without_runs_is_an_input_error(tmp_path):
    proc = cli("report", str(tmp_path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "no run folders below it" in proc.stderr


def test_swept_keys_are_the_config_values_that_differ():
    configs = [{"model.name": "a", "epochs": 1, "run_id": "x", "analysis.alpha": 0.05},
               {"model.name": "a", "epochs": 3, "run_id": "y", "analysis.alpha": 0.05}]
    assert crossrun.swept_keys(configs) == ["epochs"]


@pytest.fixture
def hostile(published, tmp_path):
    """A copy of a run whose pair and model names try to break every format."""
    folder = tmp_path / "hostile"
    shutil.copytree(published.baseline, folder)
    tests = pd.read_csv(folder / "tests.csv")
    tests["pair"] = tests["pair"] + " <script>alert(1)</script> | x | `y` \\end{table} & 100% $ #"
    tests.to_csv(folder / "tests.csv", index=False)
    summary = json.loads((folder / "summary.json").read_text())
    summary["model"] = "evil|model\n| injected | row |\x1b[31m"
    (folder / "summary.json").write_text(json.dumps(summary))
    return crossrun.load([folder])


def test_markdown_escapes_names_from_run_folders(hostile):
    md = tables.markdown(hostile)
    assert "<script>" not in md and "\x1b" not in md and "\n| injected" not in md
    assert "\\<script\\>" in md and "evil\\|model" in md


def test_markdown_rows_keep_their_column_count_whatever_the_names(hostile):
    md = tables.markdown(hostile)
    widths = set()
    section = None
    for line in md.splitlines():
        if line.startswith("## ") or line.startswith("# "):
            section = line
        elif line.startswith("|"):
            widths.add((section, line.replace("\\|", "").count("|")))
    assert len({section for section, _ in widths}) == len(widths)


def _pdflatex():
    return shutil.which("pdflatex")


def _compile(tmp_path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "table.tex").write_text(body)
    (tmp_path / "doc.tex").write_text(
        f"\\documentclass{{article}}\n{PREAMBLE}\n\\begin{{document}}\n"
        "\\input{table.tex}\n\\end{document}\n")
    return subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(_pdflatex() is None, reason="pdflatex not installed "
                    "(apt-get install texlive-latex-recommended texlive-science)")
def test_latex_table_compiles_in_a_standard_article(report, tmp_path):
    proc = _compile(tmp_path, (report / "report.tex").read_text())
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


@pytest.mark.skipif(_pdflatex() is None, reason="pdflatex not installed "
                    "(apt-get install texlive-latex-recommended texlive-science)")
def test_latex_with_hostile_names_still_compiles(hostile, tmp_path):
    proc = _compile(tmp_path, latex_tables.latex(hostile))
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_forest_plot_is_one_column_wide_and_not_blank(report):
    import matplotlib.image

    image = matplotlib.image.imread(report / "forest.png")
    height, width = image.shape[:2]
    assert width == pytest.approx(3.4 * 300, rel=0.05)   # one paper column at 300 dpi
    assert height > 300
    ink = (image[..., :3].mean(axis=2) < 0.5).mean()
    assert 0.01 < ink < 0.5   # axes, labels and markers, not an empty or solid canvas
    svg = (report / "forest.svg").read_text()
    assert "<svg" in svg and "alpha-model" in svg


def test_forest_svg_keeps_hostile_names_as_text(hostile, tmp_path):
    from xml.etree import ElementTree

    from consistency.publish import forest

    _, svg = forest.draw(hostile, tmp_path / "forest")
    root = ElementTree.parse(svg).getroot()   # well-formed XML whatever the names held
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    assert "<script>" in "".join(root.itertext())


def test_a_swept_epochs_value_labels_rows_and_stays_one_csv_column(published, tmp_path):
    folders = []
    for epochs in (2, 3):
        folder = tmp_path / f"epochs-{epochs}"
        shutil.copytree(published.baseline, folder)
        config = (folder / "config.yaml").read_text().replace("epochs: 2", f"epochs: {epochs}")
        (folder / "config.yaml").write_text(config)
        folders.append(folder)
    runset = crossrun.load(folders)
    assert runset.swept == ["epochs"]
    assert sorted(runset.runs["label"]) == ["openai:m, epochs=2", "openai:m, epochs=3"]
    tidy = tables.tidy(runset)
    assert list(tidy.columns).count("epochs") == 1
    assert set(tidy["epochs"]) == {2, 3}
