"""A key resolved by Hydra into a name (``model.name=${oc.env:OPENAI_API_KEY}``,
``run_id=${oc.env:...}``) is refused before anything is created or sent: exit 2, and no byte
of any file and no folder name under the results holds the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli
from provider_server import ProviderServer, answer_key_policy

# made-up keys, assembled here so the source holds no key-shaped literal for scanners to flag
KEY = "sk-" + "test-namekey-4b1d9e2f7a3c5e80"
JUDGE_KEY = "sk-" + "test-judgekey-0a2c4e6b8d1f3a5c"
SMALL = ["conditions.pairs=[eval_vs_deploy]", "tasks.limit=2", "model.max_retries=0"]


def exposed(root: Path, *outputs: str) -> list[str]:
    """Where a key was found: a file's bytes, a file or folder name, stdout or stderr."""
    found = []
    for path in sorted(root.rglob("*")):
        if any(key in path.name for key in (KEY, JUDGE_KEY)):
            found.append(f"name: {path.relative_to(root)}")
        if path.is_file() and any(key.encode() in path.read_bytes() for key in (KEY, JUDGE_KEY)):
            found.append(f"bytes: {path.relative_to(root)}")
    found += [name for name, text in zip(("stdout", "stderr"), outputs)
              if KEY in text or JUDGE_KEY in text]
    return found


def args(server, suite) -> list[str]:
    return ["model=openai", f"model.base_url={server.openai_base_url}",
            f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}", *SMALL]


@pytest.mark.parametrize(("override", "variable", "env"), [
    ("model.name=${oc.env:OPENAI_API_KEY}", "OPENAI_API_KEY", {"OPENAI_API_KEY": KEY}),
    ("model.name=gpt-${oc.env:MY_KEY}", "MY_KEY",
     {"OPENAI_API_KEY": JUDGE_KEY, "MY_KEY": KEY, "_API": "model.api_key_env=MY_KEY"}),
    ("results_dir=${oc.env:OPENAI_API_KEY}", "OPENAI_API_KEY", {"OPENAI_API_KEY": KEY}),
    ("model.stop=[${oc.env:OPENAI_API_KEY}]", "OPENAI_API_KEY", {"OPENAI_API_KEY": KEY}),
    ("judge.name=${oc.env:ANTHROPIC_API_KEY}", "ANTHROPIC_API_KEY",
     {"OPENAI_API_KEY": JUDGE_KEY, "ANTHROPIC_API_KEY": KEY,
      "_API": "judge=anthropic judge.base_url={anthropic}"}),
])
def test_a_key_resolved_into_the_config_is_refused_before_anything_is_written(
        suite, tmp_path, override, variable, env):
    env = dict(env)
    extra = env.pop("_API", "").split()
    key = override.split("=", 1)[0]
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        extra = [arg.format(anthropic=server.anthropic_base_url) for arg in extra]
        done = run_cli(*args(server, suite), *extra, override, results=tmp_path / "results",
                       env=env)
        sent = server.request_count
    assert done.status == 2, done.stderr
    assert f"{key.split('=')[0]}" in done.message and variable in done.message
    assert "Traceback" not in done.stderr
    assert sent == 0
    assert not (tmp_path / "results").exists()
    assert exposed(tmp_path, done.stdout, done.stderr) == []


def test_a_key_as_run_id_names_no_folder(suite, tmp_path):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        done = run_cli(*args(server, suite), results=tmp_path / "results",
                       run_id="${oc.env:OPENAI_API_KEY}", env={"OPENAI_API_KEY": KEY})
        sent = server.request_count
    assert done.status == 2, done.stderr
    assert "run_id" in done.message and "would name a folder" in done.message
    assert sent == 0
    assert exposed(tmp_path, done.stdout, done.stderr) == []


def test_a_name_from_a_variable_that_holds_no_key_still_runs(suite, tmp_path):
    env = {"OPENAI_API_KEY": KEY, "EVAL_MODEL": "scripted-model", "EVAL_RUN": "nightly-7"}
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        done = run_cli(*args(server, suite), "model.name=${oc.env:EVAL_MODEL}",
                       results=tmp_path / "results", run_id="${oc.env:EVAL_RUN}", env=env)
        models = {req.model for req in server.requests}
    assert done.status == 0, done.stderr
    assert models == {"scripted-model"}
    assert (tmp_path / "results" / "nightly-7" / "summary.json").is_file()
    assert exposed(tmp_path, done.stdout, done.stderr) == []
