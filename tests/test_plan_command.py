"""``consistency plan``: the power planner on the command line, run as a user would."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from consistency.analyse import stats
from consistency.cli import main


def plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "consistency.cli", "plan", *args],
                          capture_output=True, text=True, timeout=60)


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, text
    return float(match.group(1))


def test_items_flag_prints_millers_minimum_detectable_effect():
    out = plan("--items", "200", "--epochs", "3", "--within-var", "0.5", "--between-var", "0.01")
    assert out.returncode == 0, out.stderr
    expected = stats.plan_mde(200, 3, 0.5, 0.01).mde
    assert number(r"minimum detectable effect: ([0-9.]+)", out.stdout) == pytest.approx(
        expected, abs=5e-5)


def test_mde_flag_prints_items_needed_one_sided_with_alpha_and_power():
    out = plan("--mde", "0.05", "--one-sided", "--alpha", "0.01", "--power", "0.9",
               "--within-var", "0.4")
    assert out.returncode == 0, out.stderr
    expected = stats.plan_items(0.05, 1, 0.4, 0.0, alpha=0.01, power=0.9, sides=1).items
    assert number(r"items needed: (\d+)", out.stdout) == expected
    assert "one-sided alpha 0.01, power 0.9" in out.stdout


def test_discordance_gives_the_exact_mcnemar_answer(capsys):
    out = plan("--mde", "0.1", "--discordance", "0.3")
    assert out.returncode == 0, out.stderr
    assert number(r"items needed: (\d+)", out.stdout) == stats.plan_items_mcnemar(0.1, 0.3).items
    assert "exact McNemar" in out.stdout
    assert main(["plan", "--items", "100", "--discordance", "0.3"]) == 0
    assert number(r"minimum detectable effect: ([0-9.]+)", capsys.readouterr().out) == \
        pytest.approx(stats.plan_mde_mcnemar(100, 0.3).mde, abs=5e-5)


@pytest.mark.parametrize(("args", "phrase"), [
    ((), "exactly one of --items"),
    (("--items", "10", "--mde", "0.1"), "exactly one of --items"),
    (("--items", "ten"), "invalid int value"),
    (("--mde", "0.1", "--power", "1.5"), "power"),
    (("--mde", "0.5", "--discordance", "0.2"), "discordance"),
    (("--items", "50", "--discordance", "0.3", "--epochs", "2"), "--epochs 1"),
])
def test_bad_flags_exit_2_with_a_message_naming_the_flag(args, phrase, capsys):
    # in-process through the same entry point as the console script (keeps the suite fast)
    assert main(["plan", *args]) == 2
    captured = capsys.readouterr()
    assert phrase in captured.err and captured.out == ""


def test_bad_flags_exit_2_from_the_real_command_too():
    out = plan("--items", "10", "--mde", "0.1")
    assert out.returncode == 2 and "exactly one of --items" in out.stderr
