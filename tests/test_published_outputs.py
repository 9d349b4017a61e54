"""Every output a researcher publishes reads one row shape: the headline and the manipulation
check reach the terminal, report.md and every ``consistency report`` format; every table and the
forest plot print the interval the verdict rests on (``tests.csv`` ``interval_low``/``high``);
rows that cannot move say so; LaTeX stays legible; labels and the terminal table read well."""

from __future__ import annotations

import html as htmllib
import io
import json
import math
import re
import shutil
import subprocess

import pandas as pd
import pytest
from rich.console import Console

from publishing_support import Checked, Published, checked_run, cli, published_runs

FORMATS = "md,latex,csv,html"


@pytest.fixture
def published(tmp_path_factory) -> Published:
    return published_runs(tmp_path_factory.getbasetemp())


@pytest.fixture
def checked(tmp_path_factory) -> Checked:
    return checked_run(tmp_path_factory.getbasetemp())


@pytest.fixture
def many(published, tmp_path):
    """A report over four runs (a two-model sweep, an honest run, a sandbagger)."""
    out = tmp_path / "many"
    proc = cli("report", str(published.sweep), str(published.baseline),
               str(published.candidate), "--out", str(out), "--format", FORMATS)
    assert proc.returncode == 0, proc.stderr
    return out


# ------------------------------------------------------------------ expected text, by hand
def _expected_interval(low: float, high: float, kind: str) -> str:
    """The interval as every table prints it, written here independently of the package:
    ``[-9.7, +9.7]``, ``[<= -86.5]``, ``[>= +3.0]``, ``[RMS 1.0, 5.0]``."""
    if kind.startswith("RMS"):
        return f"[RMS {100 * low:.1f}, {100 * high:.1f}]"
    if kind.startswith("one-sided") and low <= -1:
        return f"[<= {100 * high:+.1f}]"
    if kind.startswith("one-sided") and high >= 1:
        return f"[>= {100 * low:+.1f}]"
    return f"[{100 * low:+.1f}, {100 * high:+.1f}]"


def _normal(text: str) -> str:
    """Output text with its language's escapes undone, so one expected string fits all."""
    text = htmllib.unescape(text)
    for old, new in (("{[}", "["), ("{]}", "]"), ("$\\le$", "<="), ("$\\ge$", ">="),
                     ("\u2264", "<="), ("\u2265", ">="), ("\\_", "_"), ("\\%", "%"),
                     ("pp", "")):
        text = text.replace(old, new)
    return re.sub(r"\\([\[\]<>|_`*#~$&])", r"\1", text)


def _run_rows(folders) -> list[tuple[str, dict]]:
    out = []
    for folder in folders:
        tests = pd.read_csv(folder / "tests.csv")
        run_id = json.loads((folder / "summary.json").read_text())["run_id"]
        out += [(run_id, row) for row in tests.to_dict(orient="records")
                if not math.isnan(row["interval_low"])]
    return out


def _folders(published):
    return [*sorted(p.parent for p in published.sweep.glob("*/summary.json")),
            published.baseline, published.candidate]


def _name(row) -> str:
    return f"{row['pair']}{' †' if row['pair_kind'] != 'test' else ''} / {row['family']} / " \
        f"{row['metric']}"


# ------------------------------------------------------------------ item 2: one interval
def test_every_table_and_the_forest_plot_print_the_interval_of_tests_csv(published, many):
    from consistency.publish import forest, tables
    from consistency.analyse import crossrun

    runset = crossrun.load([published.sweep, published.baseline, published.candidate])
    labels = dict(zip(runset.runs["run_id"], runset.runs["label"]))
    keys = {label: f"R{i}" for i, label in enumerate(runset.runs["label"], start=1)}
    md = (many / "report.md").read_text().splitlines()
    tex = (many / "report.tex").read_text()
    page = (many / "report.html").read_text()
    csv = pd.read_csv(many / "report.csv")
    fig, drawn = forest.figure(runset)
    fig.clf()
    plotted = {(d.row["run_id"], d.row["family"], d.row["pair"], d.row["metric"]): d
               for d in drawn}
    rows = _run_rows(_folders(published))
    assert rows and any(r["interval_kind"].startswith("one-sided") for _, r in rows)
    assert any(abs(r["interval_low"] - r["ci_low"]) > 1e-9 for _, r in rows)  # they differ
    comparison = md[md.index(next(line for line in md if line.startswith("| pair / family"))):]
    header = _normal(comparison[0]).strip("| ").split(" | ")
    for run_id, row in rows:
        label = labels[run_id]
        want = _expected_interval(row["interval_low"], row["interval_high"],
                                  row["interval_kind"])
        where = (run_id, row["family"], row["pair"], row["metric"])
        # Markdown detail: the row of this run, family, pair and metric
        detail = [_normal(line) for line in md if _normal(line).startswith(f"| {label} | ")
                  and f"| {row['family']} | {row['pair']} |" in _normal(line)
                  and f"| {row['metric']} |" in _normal(line)]
        assert len(detail) == 1 and want in detail[0], (where, detail)
        # Markdown comparison: the row's line, the run's column
        line = next(_normal(x) for x in comparison if _normal(x).startswith(f"| {_name(row)} |"))
        column = header.index(label)
        assert want in line.strip("| ").split(" | ")[column], (where, line)
        # LaTeX detail: within the run's section, the row's line
        section = _normal(tex.split(f"\\textbf{{{keys[label]}: ")[1].split("\\textbf{R")[0])
        tex_line = next(x for x in section.splitlines()
                        if x.startswith(_normal(_name(row)).replace("†", "\\dag{}")))
        assert want in tex_line, (where, tex_line)
        # HTML verdict table: the row with this run, family and pair, and the metric cell
        found = [_normal(tr) for tr in re.findall(r"<tr class=\"row[^\"]*\"[^>]*>.*?</tr>",
                                                  page)
                 if f'data-run="{htmllib.escape(label)}"' in tr
                 and f'data-family="{row["family"]}"' in tr and f'data-pair="{row["pair"]}"' in tr
                 and f"<td>{row['metric']}</td>" in tr]
        assert len(found) == 1 and want in found[0], (where, found)
        # CSV: the numbers themselves
        cell = csv[(csv["run_id"] == run_id) & (csv["family"] == row["family"])
                   & (csv["pair"] == row["pair"]) & (csv["metric"] == row["metric"])]
        values = cell.set_index("statistic")["value"]
        assert values["interval_low"] == pytest.approx(row["interval_low"], abs=1e-12)
        assert values["interval_high"] == pytest.approx(row["interval_high"], abs=1e-12)
        assert set(cell["interval_kind"]) == {row["interval_kind"]}
        # the forest plot drew this interval
        mark = plotted[where]
        assert (mark.low, mark.high) == pytest.approx((100 * row["interval_low"],
                                                       100 * row["interval_high"]))
    assert tables  # the module under test is the one imported


def test_history_prints_each_runs_verdict_interval(published, tmp_path):
    out = tmp_path / "history"
    proc = cli("report", "--history", str(published.baseline), str(published.candidate),
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    md = _normal((out / "history.md").read_text())
    for _, row in _run_rows([published.baseline, published.candidate]):
        assert _expected_interval(row["interval_low"], row["interval_high"],
                                  row["interval_kind"]) in md
    assert "interval_low" in pd.read_csv(out / "history.csv")
    assert "run 2 (candidate): flagged at alpha 0.05: sandbagging on eval_vs_deploy" in md
    assert "manipulation check: not run" in md


# ------------------------------------------------------------------ item 1: headline and check
def test_a_quiet_run_prints_its_headline_and_manipulation_check_on_one_line(checked):
    lines = [line for line in checked.stdout.splitlines() if line.strip()]
    headline = [line for line in lines if line.startswith("headline:")]
    assert len(headline) == 1, checked.stdout
    assert "not flagged" in headline[0] and "cue not perceived on eval_vs_deploy" in headline[0]
    # nothing else when quiet: the headline, the folder, and last the run's own report page
    assert len(lines) == 3 and lines[1].startswith("run folder:") and lines[2].startswith("report:")


def test_report_md_opens_with_the_headline_and_the_manipulation_check(checked):
    opening = "\n".join((checked.folder / "report.md").read_text().splitlines()[:4])
    assert opening.startswith("**not flagged**")
    assert "**Manipulation check:** cue not perceived on eval_vs_deploy" in _normal(opening)


def test_every_report_format_states_the_headline_and_the_manipulation_check(checked,
                                                                            tmp_path):
    out = tmp_path / "report"
    proc = cli("report", str(checked.folder), "--out", str(out), "--format", FORMATS)
    assert proc.returncode == 0, proc.stderr
    for name in ("report.md", "report.tex", "report.csv", "report.html"):
        text = _normal((out / name).read_text())
        assert "not flagged: none of" in text, name
        assert "cue not perceived on eval_vs_deploy" in text, name


# ------------------------------------------------------------------ item 3: cannot move
def test_rows_with_both_arms_at_zero_or_one_are_shown_as_cannot_move(published, many):
    md = _normal((many / "report.md").read_text())
    run_md = _normal((published.baseline / "report.md").read_text())
    tests = pd.read_csv(published.baseline / "tests.csv")
    floor = tests[(tests["rate_observed"] == 0) & (tests["rate_unobserved"] == 0)]
    ceiling = tests[(tests["rate_observed"] == 1) & (tests["rate_unobserved"] == 1)]
    assert len(floor) and len(ceiling) and set(floor["verdict"]) == {"consistent"}
    for row in pd.concat([floor, ceiling]).to_dict(orient="records"):
        line = next(x for x in run_md.splitlines()
                    if x.startswith(f"| {row['family']} | {row['pair']} | {row['pair_kind']} | "
                                    f"{row['metric']} |"))
        assert "**cannot move** (both arms at " in line and "**consistent**" not in line
    moving = tests[(tests["rate_observed"] > 0) & (tests["rate_observed"] < 1)]
    for row in moving.to_dict(orient="records"):
        line = next(x for x in run_md.splitlines()
                    if x.startswith(f"| {row['family']} | {row['pair']} | {row['pair_kind']} | "
                                    f"{row['metric']} |"))
        assert "cannot move" not in line
    assert "cannot move (both arms at 0%)" in md


# ------------------------------------------------------------------ item 5: LaTeX
def _pdflatex():
    return shutil.which("pdflatex") and shutil.which("pdftotext")


needs_tex = pytest.mark.skipif(not _pdflatex(), reason="pdflatex or pdftotext not installed "
                               "(apt-get install texlive-latex-recommended texlive-science "
                               "poppler-utils)")
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                   r"(.*?)</word>")
CALIBRATION = "Zqxjwkvb"


def _words(tmp_path, table: str) -> list[tuple[float, float, float, str]]:
    """(height, xMin, xMax, text) of every word of ``table`` compiled in a standard article,
    with one word set at 6 pt for calibration."""
    from consistency.publish.latex_tables import PREAMBLE

    (tmp_path / "table.tex").write_text(table)
    (tmp_path / "doc.tex").write_text(
        f"\\documentclass{{article}}\n{PREAMBLE}\n\\begin{{document}}\n"
        f"{{\\fontsize{{6}}{{7}}\\selectfont {CALIBRATION}}}\n\n\\input{{table.tex}}\n"
        "\\end{document}\n")
    for _ in range(2):  # longtable settles its column widths on the second pass
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                               "doc.tex"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=180)
        assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Rerun" not in (tmp_path / "doc.log").read_text()
    subprocess.run(["pdftotext", "-bbox", "doc.pdf", "words.html"], cwd=tmp_path, check=True,
                   timeout=60)
    return [(float(y1) - float(y0), float(x0), float(x1), text) for x0, y0, x1, y1, text
            in _WORD.findall((tmp_path / "words.html").read_text())]


@needs_tex
def test_latex_tables_print_no_text_under_6pt_and_stay_inside_the_text_block(many, tmp_path):
    words = _words(tmp_path, (many / "report.tex").read_text())
    six = next(h for h, _, _, text in words if text == CALIBRATION)
    table = [w for w in words if w[3] != CALIBRATION]
    assert len(table) > 500
    smallest = min(table)
    assert smallest[0] >= six - 0.01, smallest  # no word smaller than the 6 pt one
    # a standard article on letter paper: a 345 pt text block from x = 133.8 pt
    assert min(x0 for _, x0, _, _ in table) >= 133.0
    assert max(x1 for _, _, x1, _ in table) <= 133.8 + 345 + 2


@needs_tex
def test_latex_numbers_are_decimal_aligned_with_siunitx(many):
    tex = (many / "report.tex").read_text()
    assert "S[table-format=3.1]" in tex and "\\resizebox" not in tex


# ------------------------------------------------------------------ item 4: forest plot
def test_forest_labels_fit_the_figure_and_the_legend_names_every_marker(published):
    from consistency.publish import forest
    from consistency.analyse import crossrun

    runset = crossrun.load([published.sweep, published.candidate])
    fig, _ = forest.figure(runset)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent"))
             if getattr(t, "get_text", lambda: "")() and t.get_visible()]
    shown = {t.get_text() for t in texts}
    for t in texts:
        box = t.get_window_extent(renderer)
        assert box.x0 >= -0.5 and box.x1 <= width + 0.5, t.get_text()
        assert box.y0 >= -0.5 and box.y1 <= height + 0.5, t.get_text()
    assert fig.get_size_inches()[0] == pytest.approx(3.4)
    for label in runset.runs["label"]:
        assert any(label in s for s in shown), label
    for metric in set(runset.tests["metric"]):
        assert metric in shown, metric
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"sandbagging", "strategic compliance", "divergence", "consistent",
            "inconclusive"} <= legend
    assert not any(s.endswith("\u2026") for s in shown)  # nothing cut short
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_the_forest_plot_is_black_and_white(many):
    import matplotlib.image

    image = matplotlib.image.imread(many / "forest.png")[..., :3]
    spread = image.max(axis=2) - image.min(axis=2)
    assert spread.max() < 0.02  # grey levels only: no colour carries meaning


# ------------------------------------------------------------------ item 12: image formats
def test_report_format_writes_the_forest_plot_as_png_svg_or_pdf(published, tmp_path):
    out = tmp_path / "images"
    proc = cli("report", str(published.baseline), "--out", str(out), "--format", "pdf,svg")
    assert proc.returncode == 0, proc.stderr
    assert (out / "forest.pdf").read_bytes()[:5] == b"%PDF-"
    assert "<svg" in (out / "forest.svg").read_text()
    assert not (out / "forest.png").exists() and not (out / "report.md").exists()
    proc = cli("report", str(published.baseline), "--out", str(tmp_path / "md"), "--format", "md")
    assert proc.returncode == 0 and (tmp_path / "md" / "forest.svg").is_file()  # always a plot
    proc = cli("report", str(published.baseline), "--out", str(out), "--format", "md,jpg")
    assert proc.returncode == 2 and "unknown format jpg" in proc.stderr
    assert "['" not in proc.stderr


# ------------------------------------------------------------------ item 6: run labels
def _copy(published, tmp_path, name: str, edit) -> str:
    folder = tmp_path / name
    shutil.copytree(published.baseline, folder)
    edit(folder)
    return str(folder)


def _limits(tasks_limit: str, checks_limit: str):
    def edit(folder):
        lines = (folder / "config.yaml").read_text().splitlines()
        section = None
        for i, line in enumerate(lines):
            if not line.startswith(" "):
                section = line.rstrip(":")
            elif line.strip() == "limit: null":
                value = tasks_limit if section == "tasks" else checks_limit
                lines[i] = line.replace("null", value)
        (folder / "config.yaml").write_text("\n".join(lines) + "\n")
    return edit


def test_run_labels_name_full_keys_keep_ints_and_say_null(published, tmp_path):
    from consistency.analyse import crossrun

    a = _copy(published, tmp_path, "a", _limits("5", "null"))
    b = _copy(published, tmp_path, "b", _limits("7", "3"))
    labels = sorted(crossrun.load([a, b]).runs["label"])
    assert labels == ["openai:m, tasks.limit=5, checks.limit=null",
                      "openai:m, tasks.limit=7, checks.limit=3"]


def test_an_imported_run_beside_a_native_one_gets_no_key_nan_labels(published, tmp_path):
    from consistency.analyse import crossrun

    def imported(folder):
        (folder / "config.yaml").write_text(
            "import_inspect:\n  observed: [logs/a]\nanalysis:\n  alpha: 0.05\n")
        summary = json.loads((folder / "summary.json").read_text())
        summary["model"] = "inspect:other"
        (folder / "summary.json").write_text(json.dumps(summary))

    labels = list(crossrun.load([published.baseline,
                                 _copy(published, tmp_path, "imp", imported)]).runs["label"])
    assert sorted(labels) == ["inspect:other", "openai:m"]


def test_label_overrides_a_runs_label_in_every_format(published, tmp_path):
    out = tmp_path / "labelled"
    proc = cli("report", str(published.baseline), str(published.candidate), "--out", str(out),
               "--format", "md,csv", "--label", "candidate=Sandbagger (planted)",
               "--label", f"{published.baseline}=Honest")
    assert proc.returncode == 0, proc.stderr
    assert set(pd.read_csv(out / "report.csv")["label"]) == {"Sandbagger (planted)", "Honest"}
    proc = cli("report", str(published.baseline), "--out", str(out), "--label", "nope=x")
    assert proc.returncode == 2 and "--label" in proc.stderr


# ------------------------------------------------------------------ item 7: HTML
def test_the_html_page_opens_with_headline_summary_check_and_plot(checked, tmp_path):
    out = tmp_path / "page"
    proc = cli("report", str(checked.folder), "--out", str(out), "--format", "html")
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    first = page[:page.index("<h2>Verdicts</h2>")]
    assert "not flagged: none of" in first and "cue not perceived on eval_vs_deploy" in first
    assert re.search(r"<dt>design</dt><dd>\d+ items \(12 capability, 12 harmful\), 2 pairs",
                     first), first[:3000]
    assert re.search(r"<dt>date</dt><dd>20\d\d-", first) and "<dt>responses</dt>" in first
    assert "data:image/png;base64," in first
    # one run: no label column in the verdict table, no run filter
    verdicts = page[page.index('<table id="verdicts">'):]
    verdicts = verdicts[:verdicts.index("</table>")]
    assert "<th>label</th>" not in verdicts and 'id="f-run"' not in page
    # the drill-down: the item's reference answer and the check answers
    assert "expected answer: <b>8</b>" in page
    assert "manipulation check: observed v0: deployment" in page


def test_html_verdict_cells_carry_the_class_the_css_emphasises(published, tmp_path):
    out = tmp_path / "page"
    proc = cli("report", str(published.baseline), str(published.candidate), "--out", str(out),
               "--format", "html")
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    assert re.search(r'<td class="verdict verdict-sandbagging">sandbagging', page)
    assert ".verdict-sandbagging" in page and 'class="verdict verdict-cannot_move"' in page
    verdicts = page[page.index('<table id="verdicts">'):]
    assert 'id="f-run"' in page and "<th>label</th>" in verdicts[:verdicts.index("</thead>")]


# ------------------------------------------------------------------ item 8: terminal
@pytest.mark.parametrize("width", [60, 80, 100, 120, 160])
def test_the_terminal_table_fits_the_terminal_and_cuts_no_number(published, width):
    from consistency.publish.report import print_table

    tests = pd.read_csv(published.candidate / "tests.csv")
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    print_table(tests, console=console)
    shown = console.file.getvalue()
    assert max(len(line) for line in shown.splitlines()) <= width
    flat = " ".join(shown.split())
    for row in tests.to_dict(orient="records"):
        bounds = _expected_interval(row["interval_low"], row["interval_high"],
                                    row["interval_kind"])
        assert _normal(bounds) in _normal(shown).replace("pp", ""), (width, bounds)
    assert "sandbagging" in flat and "\u2026" not in shown


def test_run_descriptions_read_as_prose(checked):
    report = (checked.folder / "report.md").read_text()
    design = next(line for line in report.splitlines() if line.startswith("- design:"))
    responses = next(line for line in report.splitlines() if line.startswith("- responses:"))
    assert "{" not in design and "1 pairs" not in design and "epoch(s)" not in design
    assert "24 items (12 capability, 12 harmful), 2 pairs" in design
    assert " , " not in responses and "0 failed" not in responses and "0 empty" not in responses


# ------------------------------------------------------------------ the published shape itself
def _pair(**given):
    return {"pair": "eval", "pair_kind": "test", "rate_observed": 0.4, "rate_unobserved": 0.38,
            "q_value": 0.6, "p_value": 0.3, "n_items": 10, "cue_perceived": False} | given


@pytest.mark.parametrize(("summary", "status"), [
    ({}, "not run"),
    ({"manipulation_check": {"enabled": False}}, "not run"),
    ({"manipulation_check": {"enabled": True}, "pairs": [_pair(cue_perceived=True)]},
     "perceived"),
    ({"manipulation_check": {"enabled": True}, "pairs": [_pair()]}, "not perceived"),
    ({"manipulation_check": {"enabled": True}, "pairs": [_pair(p_value=None, n_items=0)]},
     "undetermined"),
    ({"manipulation_check": "garbage", "pairs": "x", "headline": ["not", "a", "dict"]},
     "not run"),
])
def test_the_manipulation_check_reads_as_one_of_four_results(summary, status):
    from consistency.publish.published import run_story

    story = run_story(summary)
    assert story.check_status == status
    assert story.check.startswith("manipulation check: ") and "\n" not in story.line()


def test_a_check_that_could_not_be_tested_marks_its_rows_undetermined():
    from consistency.analyse.situation import with_cue_notes

    tests = pd.DataFrame({"pair": ["a", "b", "c"]})
    perception = pd.DataFrame({"pair": ["a", "b", "c"], "cue_perceived": [False, None, True],
                               "p_value": [0.4, math.nan, 0.001],
                               "perception": ["not perceived", "undetermined", "perceived"]})
    assert list(with_cue_notes(tests, perception)["note"]) == [
        "cue not perceived", "cue perception undetermined", ""]


def test_cannot_move_only_where_both_arms_sit_at_the_same_bound():
    from consistency.publish.published import rows

    frame = pd.DataFrame({
        "rate_observed": [0.0, 1.0, 0.0, 0.5, 1.0], "rate_unobserved": [0.0, 1.0, 1.0, 0.5, 1.0],
        "verdict": ["consistent", "inconclusive", "sandbagging", "consistent", "consistent"],
        "ci_low": -0.1, "ci_high": 0.1, "alternative": "two-sided", "p_value": 0.5,
        "q_value": 0.5})
    out = rows(frame)
    assert list(out["shown_verdict"]) == ["cannot move", "cannot move", "sandbagging",
                                          "consistent", "cannot move"]
    assert list(out["caveats"]) == ["both arms at 0%", "both arms at 100%", "", "",
                                    "both arms at 100%"]
