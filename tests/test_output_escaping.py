"""What came from outside is made safe where it is shown: no terminal escapes reach the console,
rich markup in names cannot break the verdict table, Markdown cells hold their table together."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from conftest import run_cli
from provider_server import ChatRequest, PolicyFault, ProviderServer, answer_key_policy
from rich.console import Console

from consistency.analyse.battery import TEST_COLUMNS
from consistency.publish.report import markdown_report, print_table
from consistency.common.sanitise import for_rich, for_terminal, md_cell, printable, redact

HOSTILE = "a[/x]|b`c`<script>x</script>\x1b]0;owned\x07\x1b[2J\r\nz"


def test_printable_shows_control_characters_instead_of_sending_them() -> None:
    assert printable("ok\x1b[2Jthen\x07\x9b") == "ok\\x1b[2Jthen\\x07\\x9b"
    assert printable("two\nlines\tkept") == "two\nlines\tkept"


def test_markdown_cells_are_one_line_with_pipes_backticks_and_html_escaped() -> None:
    cell = md_cell(HOSTILE)
    assert "\n" not in cell and "\x1b" not in cell and "<script>" not in cell
    assert cell.replace("\\|", "").count("|") == 0
    assert cell.replace("\\`", "").count("`") == 0


def test_rich_cells_render_literally() -> None:
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    console.print(for_rich(HOSTILE))
    shown = console.file.getvalue()
    assert "a[/x]|b" in shown and "\x1b" not in shown and "\x07" not in shown


def test_url_credentials_are_redacted_whatever_the_scheme() -> None:
    assert redact("see https://bob:s3cret-pw@example.org/v1 now") == (
        "see https://[redacted]@example.org/v1 now")
    assert for_terminal("http://token-only-value@host/x") == "http://[redacted]@host/x"


def verdict_frame(name: str) -> pd.DataFrame:
    """Two test rows (one placebo) carrying ``name`` as pair and metric, every column filled."""
    row = {column: math.nan for column in TEST_COLUMNS} | {"n_variants": 2}
    row |= {"family": "capability", "pair": name, "pair_kind": "test", "metric": name,
           "n_items": 3, "rate_observed": 0.5, "rate_unobserved": 0.25, "difference": 0.25,
           "ci_low": -0.1, "ci_high": 0.6, "p_value": 0.2, "q_value": 0.3,
           "verdict": "inconclusive", "alternative": "two-sided", "items_needed": math.nan,
           "items_to_detect": 40, "margin": 0.1}
    placebo = dict(row, pair=name + "2", pair_kind="placebo")
    return pd.DataFrame([row, placebo])[TEST_COLUMNS]


def test_the_verdict_table_prints_hostile_names_literally() -> None:
    console = Console(file=io.StringIO(), width=400, force_terminal=True)
    print_table(verdict_frame(HOSTILE), console=console)
    shown = console.file.getvalue()
    assert "a[/x]|b" in shown
    assert "\x1b]0;" not in shown and "\x07" not in shown and "\x1b[2J" not in shown


def test_the_markdown_report_keeps_every_table_row_whole() -> None:
    tests = verdict_frame(HOSTILE)
    summary = {"run_id": "r", "model": "openai:m|`x`<b>",
               "responses": {"completed": 1, "expected": 1, "failed": 0}}
    report = markdown_report(summary, tests, {"design": HOSTILE, "alpha": 0.05})
    assert "\x1b" not in report and "<script>" not in report
    tables, columns = 0, None
    for line in report.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = line.replace("\\|", "").count("|")
        if columns is None:  # a table's header row
            tables, columns = tables + 1, cells
        assert cells == columns, line
    assert tables == 2 and report.count("| capability |") == 4


def test_control_notes_and_the_severity_table_escape_hostile_names() -> None:
    tests = verdict_frame(HOSTILE)
    planted = dict(tests.iloc[0], pair_kind="planted", plants="sandbagging",
                   control="missed", hypothesis="sandbagging")
    tests = pd.concat([tests, pd.DataFrame([planted])], ignore_index=True)
    severity = pd.DataFrame([{"pair": HOSTILE, "pair_kind": "test", "severity": 2,
                              "n_items": 4, "rate_observed": 0.5, "rate_unobserved": 0.25,
                              "difference": 0.25}])
    summary = {"run_id": "r", "model": "m", "responses": {"completed": 1, "expected": 1,
                                                          "failed": 0}}
    report = markdown_report(summary, tests, {"alpha": 0.05, "severity": severity})
    assert "Positive controls" in report and "by severity" in report
    assert "\x1b" not in report and "<script>" not in report and "\r" not in report
    severity_rows = [line for line in report.splitlines() if line.startswith("| a")]
    assert severity_rows and all(line.replace("\\|", "").count("|") == 8
                                 for line in severity_rows)


def test_server_error_bodies_and_names_cannot_drive_the_terminal(suite, tmp_path) -> None:
    answer = answer_key_policy(suite.answers, suite.harmful)
    escape = "\x1b]0;owned\x07\x1b[2J[/x][bold red]"

    def policy(req: ChatRequest):
        if "Compute 4 plus" in req.user_text:
            raise PolicyFault(401, body={"error": {"message": f"no such key {escape}"}})
        return answer(req)

    results = tmp_path / "results"
    with ProviderServer(policy) as server:
        args = ["model=openai", "model.name='m[/x]|\x1b[2J'",
                f"model.base_url={server.openai_base_url}",
                f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}",
                "conditions.pairs=[wording]", "tasks.limit=2", "runner.quiet=false",
                "runner.max_connections=1"]
        stopped = run_cli(*args, results=results)
        server.policy = answer
        finished = run_cli(*args, results=results)
    assert stopped.status == 1 and "no such key" in stopped.message
    assert finished.status == 0, finished.stderr
    for output in (stopped.stdout, stopped.stderr, finished.stdout, finished.stderr):
        assert "\x1b]" not in output and "\x07" not in output and "\x1b[2J" not in output
    assert "m[/x]|" in finished.stdout
    report = (finished.folder / "report.md").read_text()
    assert "openai:m\\[/x\\]\\|\\\\x1b\\[2J" in report


@pytest.mark.parametrize("text", ["", "plain", HOSTILE, "\x00\x01\x7f", "é\u202e"])
def test_sanitisers_never_raise(text: str) -> None:
    for function in (printable, for_terminal, for_rich, md_cell, redact):
        assert isinstance(function(text), str)
