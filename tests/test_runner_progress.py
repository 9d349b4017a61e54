"""The live progress bar shows done/total, rate, failures and tokens; quiet mode shows nothing."""

from __future__ import annotations

from provider_server import ProviderServer, answer_key_policy, failing_for
from runner_support import openai_overrides, run_inprocess

from consistency.run.progress import ProgressBar, _short


def test_progress_line_reports_failures_and_tokens(suite, tmp_path, capsys):
    answer = answer_key_policy(suite.answers, suite.harmful)
    flaky = failing_for("number 7 ", 400, answer)

    with ProviderServer(flaky) as server:
        args = [a for a in openai_overrides(server, suite) if a != "runner.quiet=true"]
        run_inprocess(*args, "runner.quiet=false", results=tmp_path / "results")
    out = " ".join(capsys.readouterr().out.split())
    assert "requests" in out and "800/800" in out
    assert "failed 10" in out
    assert "tokens " in out and "/s" in out


def test_quiet_mode_prints_no_progress(suite, tmp_path, capsys):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        run_inprocess(*openai_overrides(server, suite), results=tmp_path / "results")
    # no progress and no table: only the one-line headline a nightly log keeps
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("headline: ")


def test_counters_advance_even_when_quiet():
    with ProgressBar(3, quiet=True) as bar:
        bar.advance(failed=False, tokens=10)
        bar.advance(failed=True)
    assert (bar.done, bar.failures, bar.tokens) == (2, 1, 10)
    assert [_short(n) for n in (999, 1500, 2_500_000)] == ["999", "1.5k", "2.5M"]
