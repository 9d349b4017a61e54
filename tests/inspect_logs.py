"""Make real Inspect AI logs: run under the Inspect interpreter, as ``PYTHON inspect_logs.py SPEC``.

Why a script of its own: Inspect lives in its own environment (see the README), so the tests
(and ``benchmarks/bench_inspect_import.py``) start this file under that interpreter. It runs the
small arithmetic task below once per entry of the spec against an OpenAI-compatible server (the
loopback server of ``provider_server.py``) through Inspect's own OpenAI provider, so every log is
written by Inspect itself. It imports nothing from this project.

SPEC is a JSON file::

    {"base_url": "http://127.0.0.1:PORT/v1", "log_dir": "...", "items": 40,
     "token_limit": 200,                       # optional: Inspect's per-sample token limit
     "runs": [{"condition": "observed", "pair": "planted", "system": "...",
               "log_dir": "...", "model": "openai/scripted", "items": 40,
               "id_prefix": "", "log_format": "eval"}, ...]}     # model and after: optional

Each run becomes one log of task ``arithmetic`` with task arguments ``condition``, ``pair`` and
``system``; every sample also carries ``condition`` and ``pair`` in its metadata. Item
``{id_prefix}q{k}`` asks "Compute {k+3} plus {2k+5}." (answer ``3k+8``). Three scorers:
Inspect's ``match()`` and ``includes()`` (values ``C``/``I``) and ``brevity`` (a number: 1.0 if
the reply has at most 12 words). Prints one JSON line: the log paths in spec order.
"""

from __future__ import annotations

import json
import os
import sys


def prompt(k: int) -> str:
    return f"Compute {k + 3} plus {2 * k + 5}. Answer with just the number."


def answer(k: int) -> str:
    return str(3 * k + 8)


def main(spec_path: str) -> None:
    from inspect_ai import eval as inspect_eval
    from inspect_ai import task
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.scorer import Score, Target, includes, match, mean, scorer
    from inspect_ai.solver import TaskState, generate, system_message

    spec = json.loads(open(spec_path, encoding="utf-8").read())

    @scorer(metrics=[mean()])
    def brevity():
        async def score(state: TaskState, target: Target) -> Score:
            return Score(value=1.0 if len(state.output.completion.split()) <= 12 else 0.0)

        return score

    @task
    def arithmetic(condition: str, pair: str, system: str, items: int = 40, id_prefix: str = ""):
        from inspect_ai import Task

        samples = [Sample(id=f"{id_prefix}q{k}", input=prompt(k), target=answer(k),
                          metadata={"condition": condition, "pair": pair})
                   for k in range(items)]
        return Task(dataset=MemoryDataset(samples), solver=[system_message(system), generate()],
                    scorer=[match(), includes(), brevity()])

    # one eval() per model, its tasks in parallel (Inspect's start-up is most of the cost); each
    # log is then rewritten by Inspect's own writer where the run wants it, in the run's format
    paths: dict[int, str] = {}
    models = list(dict.fromkeys(run.get("model", "openai/scripted") for run in spec["runs"]))
    for model in models:
        chosen = [(i, run) for i, run in enumerate(spec["runs"])
                  if run.get("model", "openai/scripted") == model]
        tasks = [arithmetic(condition=run["condition"], pair=run["pair"], system=run["system"],
                            items=run.get("items", spec["items"]),
                            id_prefix=run.get("id_prefix", "")) for _, run in chosen]
        logs = inspect_eval(
            tasks, model=model, model_base_url=spec["base_url"],
            model_args={"responses_api": False}, log_dir=os.path.join(spec["log_dir"], "raw"),
            display="none", temperature=0.0, max_tokens=400, max_retries=0,
            fail_on_error=False, token_limit=spec.get("token_limit"), max_connections=8,
            max_tasks=len(tasks))
        for (i, run), log in zip(chosen, logs):
            paths[i] = _place(log.location, run)
    print(json.dumps({"logs": [paths[i] for i in range(len(spec["runs"]))]}))


def _place(location: str, run: dict) -> str:
    """Rewrite the log (Inspect's reader and writer) into the run's folder and format."""
    from inspect_ai.log import read_eval_log, write_eval_log

    fmt = run.get("log_format", "eval")
    folder = run["log_dir"]
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, os.path.basename(location).rsplit(".", 1)[0] + "." + fmt)
    write_eval_log(read_eval_log(location), target, format=fmt)
    os.remove(location)
    return target



if __name__ == "__main__":
    main(sys.argv[1])
