"""Before a paid run: the plan is printed, ``--dry-run`` prints it and sends nothing, and a plan
above ``runner.max_requests`` is refused (exit 2) until the ceiling is raised."""

from __future__ import annotations

import pytest
from conftest import run_cli
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from provider_server import ProviderServer, answer_key_policy

from consistency.cli import CONF_DIR
from consistency.design.config import run_config
from consistency.pipeline import load_design

KEY = {"OPENAI_API_KEY": "sk-" + "test-plan-0123456789"}
#: 2 capability + 2 harmful items under the three pairs (10 framings: 40 task cells; no checks)
SMALL = ["tasks.limit=2", "model.max_retries=0"]
CELLS = 40


def args(server, suite) -> list[str]:
    return ["model=openai", "model.name=scripted", f"model.base_url={server.openai_base_url}",
            f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}", *SMALL]


def compose_config(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return run_config(compose("config", overrides=list(overrides)))


@pytest.mark.parametrize("flag", ["--dry-run", "runner.dry_run=true"])
def test_a_dry_run_prints_the_plan_and_sends_nothing(suite, tmp_path, flag):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        # no key in the environment: a dry run does not even build a provider
        done = run_cli(*args(server, suite), "model.price_input_per_mtok=2.5",
                       "model.price_output_per_mtok=10", flag, results=tmp_path / "r")
        hits = server.http_hits
    assert done.status == 0, done.stderr
    assert hits == 0
    assert not (tmp_path / "r").exists()
    assert f"plan: {CELLS} requests to send" in done.stdout
    assert "input tokens" in done.stdout and f"at most {CELLS * 256:,} output" in done.stdout
    assert "at most $" in done.stdout
    assert "nothing was sent" in done.stdout


def test_the_plan_is_printed_before_a_real_run_and_matches_what_is_sent(suite, tmp_path):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        done = run_cli(*args(server, suite), "runner.quiet=false", results=tmp_path / "r",
                       env=KEY)
        sent = server.request_count
    assert done.status == 0, done.stderr
    assert sent == CELLS
    assert done.stdout.index(f"plan: {CELLS} requests to send") < done.stdout.index("run folder")


def test_a_plan_above_max_requests_is_refused_until_raised(suite, tmp_path):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        refused = run_cli(*args(server, suite), f"runner.max_requests={CELLS - 1}",
                          results=tmp_path / "r", env=KEY)
        assert server.http_hits == 0
        assert not (tmp_path / "r").exists()
        raised = run_cli(*args(server, suite), f"runner.max_requests={CELLS}",
                         results=tmp_path / "r", env=KEY)
        sent = server.request_count
    assert refused.status == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "runner.max_requests" in refused.message and f"would send {CELLS} requests" in \
        refused.message and "--dry-run" in refused.message
    assert raised.status == 0, raised.stderr
    assert sent == CELLS


def test_the_default_hosted_design_is_refused_by_the_default_ceiling(tmp_path):
    with ProviderServer() as server:
        done = run_cli("model=openai", f"model.base_url={server.openai_base_url}",
                       results=tmp_path / "r", env=KEY, timeout=600)
        hits = server.http_hits
    assert done.status == 2, done.stderr
    assert "runner.max_requests=20,000" in done.message
    assert hits == 0 and not (tmp_path / "r").exists()


def test_only_unanswered_cells_count_against_the_ceiling(suite, tmp_path):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        first = run_cli(*args(server, suite), results=tmp_path / "r", env=KEY)
        again = run_cli(*args(server, suite), "runner.max_requests=1", results=tmp_path / "r",
                        env=KEY)
        sent = server.request_count
    assert first.status == 0 and again.status == 0, again.stderr
    assert sent == CELLS


def test_the_embedded_model_is_not_held_to_the_ceiling():
    from consistency.run import budget

    config = compose_config("model=local", "runner.max_requests=1")
    design = load_design(config)
    plan = budget.send_plan(config, design.plan)
    assert plan.requests > 1
    budget.check_limit(config, plan)  # no InputError
    hosted = compose_config("model=openai", "design=quick", "runner.max_requests=1")
    with pytest.raises(Exception, match="runner.max_requests"):
        budget.check_limit(hosted, budget.send_plan(hosted, load_design(hosted).plan))


def test_the_estimate_counts_characters_and_reply_caps():
    from consistency.run import budget

    config = compose_config("model=openai", "design=quick", "model.max_tokens=100",
                            "model.price_input_per_mtok=1", "model.price_output_per_mtok=2")
    plan = load_design(config).plan
    sent = budget.send_plan(config, plan)
    assert sent.requests == len(plan) and sent.output_tokens_max == 100 * len(plan)
    assert sent.usd_max == pytest.approx((sent.input_tokens + 2 * sent.output_tokens_max) / 1e6)
    half = budget.send_plan(config, plan, set(plan["cell_id"].iloc[::2]))
    assert half.requests == len(plan) // 2 and half.already_done == len(plan) - half.requests
