"""A server that echoes the API key (or a URL password) back cannot make the tool write it.

Every error path the tests know is driven through the real CLI, then every byte of every file
the run wrote (the SQLite journal and any -wal/-shm files included) and all of stdout/stderr
are searched for the key and the password.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli
from provider_server import ChatRequest, PolicyFault, ProviderServer, RawReply, answer_key_policy

# made-up keys, assembled here so the source holds no key-shaped literal for scanners to flag
KEY = "sk-" + "test-7f3a9c1e5b2d4068a1c3e5f7"
OTHER_KEY = "sk-ant-" + "test-0c2e4a6b8d0f1a3c5e7"
PASSWORD = "hunter2-Passw0rd"
SMALL = ["conditions.pairs=[wording]", "tasks.limit=2", "model.max_retries=0", "runner.retries=0",
         "runner.error_budget=1000"]
ENV = {"CONSISTENCY_SECRET_KEY": KEY, "ANTHROPIC_API_KEY": OTHER_KEY}


def leaks(results: Path, *outputs: str) -> list[str]:
    """Where a secret was found: file paths (relative) and ``stdout``/``stderr``."""
    found = []
    for path in sorted(results.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if any(secret.encode() in data for secret in (KEY, OTHER_KEY, PASSWORD)):
                found.append(str(path.relative_to(results)))
    for name, text in zip(("stdout", "stderr"), outputs):
        if any(secret in text for secret in (KEY, OTHER_KEY, PASSWORD)):
            found.append(name)
    return found


def secret_url(server: ProviderServer, path: str = "/v1") -> str:
    return f"http://user:{PASSWORD}@127.0.0.1:{server.port}{path}"


def echoing(suite):
    """Error bodies, a malformed reply and a reply text, each echoing the key and password."""
    answer = answer_key_policy(suite.answers, suite.harmful)
    echo = f"Authorization: Bearer {KEY} (x-api-key {OTHER_KEY}) from user:{PASSWORD}@host"

    def policy(req: ChatRequest):
        text = req.user_text
        if "Compute 3 plus" in text:
            raise PolicyFault(400, body={"error": {"message": f"bad request; {echo}"}})
        if "Compute 4 plus" in text:
            raise PolicyFault(500, body={"error": {"message": f"upstream died; {echo}"}})
        if "invoice number 0 " in text:
            return RawReply({"choices": [{"message": {"content": 5, "note": echo}}]})
        if "invoice number 1 " in text:
            return f"Sure! By the way, your key is {echo}"
        return answer(req)

    return policy


def openai_args(server: ProviderServer, suite) -> list[str]:
    return ["model=openai", "model.name=scripted", f"model.base_url={secret_url(server)}",
            "model.api_key_env=CONSISTENCY_SECRET_KEY", f"tasks.path={suite.tasks}",
            f"conditions.path={suite.conditions}", *SMALL]


def test_echoed_secrets_in_errors_replies_and_urls_are_written_nowhere(suite, tmp_path):
    results = tmp_path / "results"
    with ProviderServer(echoing(suite)) as server:
        done = run_cli(*openai_args(server, suite), "runner.quiet=false", "runner.cache=true",
                       results=results, env=ENV)
    assert done.status == 0, done.stderr
    counts = done.summary()["responses"]
    assert counts["failed_by_kind"] == {"bad_request": 4, "server_error": 4, "malformed": 4}
    assert "[redacted]" in (done.folder / "config.yaml").read_text()
    assert (results / "cache.sqlite").exists()
    assert leaks(results, done.stdout, done.stderr) == [], done.stderr


def test_a_rejected_key_echoed_in_the_401_body_is_not_printed_or_stored(suite, tmp_path):
    def reject(req: ChatRequest):
        raise PolicyFault(401, body={"error": {"message": f"Incorrect API key provided: {KEY}; "
                                               f"basic auth user:{PASSWORD}"}})

    results = tmp_path / "results"
    with ProviderServer(reject) as server:
        done = run_cli(*openai_args(server, suite), results=results, env=ENV)
    assert done.status == 1 and "run stopped" in done.message
    assert "Incorrect API key provided: [redacted]" in done.message
    assert leaks(results, done.stdout, done.stderr) == [], done.stderr


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_refused_batch_submission_echoing_the_key_is_not_printed_or_stored(
        suite, tmp_path, protocol):
    results = tmp_path / "results"
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        server.batches.refuse_with = RawReply(
            {"type": "error", "error": {"type": "invalid_request_error",
                                        "message": f"no batches for {KEY} / {OTHER_KEY}"}},
            status=400)
        if protocol == "openai":
            args = openai_args(server, suite)
        else:
            args = ["model=anthropic", "model.name=scripted",
                    f"model.base_url={secret_url(server, '')}",
                    "model.api_key_env=CONSISTENCY_SECRET_KEY", f"tasks.path={suite.tasks}",
                    f"conditions.path={suite.conditions}", *SMALL]
        done = run_cli(*args, "runner=batch", "runner.poll_interval_s=0.05", results=results,
                       env=ENV)
    assert done.status == 1 and "could not submit the batch" in done.message
    assert "[redacted]" in done.message
    assert leaks(results, done.stdout, done.stderr) == [], done.stderr


def test_a_sweep_keeps_no_url_password_in_hydras_record(suite, tmp_path):
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "consistency.cli", "run", "-m", *openai_args(server, suite),
             f"results_dir={results}", "runner.quiet=true", "model.temperature=0.0,0.7"],
            capture_output=True, text=True, env=env | ENV, timeout=300,
            stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert len(list(results.glob("sweeps/*/multirun.yaml"))) == 1
    assert leaks(results, proc.stdout, proc.stderr) == [], [
        line for line in (proc.stdout + proc.stderr).splitlines()
        if any(secret in line for secret in (KEY, OTHER_KEY, PASSWORD))]
