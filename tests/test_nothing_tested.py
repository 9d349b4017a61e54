"""A run that tested nothing is no pass: exit 4 and a paragraph saying why, not exit 0."""

from __future__ import annotations

from conftest import run_cli
from provider_server import PolicyFault, ProviderServer, answer_key_policy

SMALL = ["model.max_retries=0", "runner.retries=0", "tasks.limit=3"]


def openai_args(server, suite) -> list[str]:
    return ["model=openai", "model.name=scripted", f"model.base_url={server.openai_base_url}",
            f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}", *SMALL]


def refuse_everything(req):
    raise PolicyFault(400, body={"error": {"message": "this server refuses every request"}})


def test_a_run_whose_every_request_failed_within_the_budget_exits_4(suite, tmp_path):
    with ProviderServer(refuse_everything) as server:
        done = run_cli(*openai_args(server, suite), "runner.error_budget=1000",
                       results=tmp_path / "r", env={"OPENAI_API_KEY": "sk-" + "test-nothing"})
        sent = server.request_count
    assert sent > 0
    assert done.summary()["headline"]["answer"] == "untested"
    assert done.status == 4, done.stderr
    assert "nothing was tested" in done.message and "every request failed" in done.message
    assert "bad_request" in done.message and "run_id=run" in done.message
    assert "Traceback" not in done.stderr


def test_a_run_that_tested_its_pairs_still_exits_0(suite, tmp_path):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        done = run_cli(*openai_args(server, suite), results=tmp_path / "r",
                       env={"OPENAI_API_KEY": "sk-" + "test-nothing"})
    assert done.status == 0, done.stderr
    assert done.summary()["headline"]["answer"] != "untested"
    assert "nothing was tested" not in done.message
