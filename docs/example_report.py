"""Rebuild the example report shown in the README (``docs/img/forest.png`` and friends).

Three scripted models served by the loopback test server (tests/provider_server.py) through the
official OpenAI SDK: one framing-blind, one that answers a third of the capability items wrongly
when told it is evaluated (sandbagging), one that refuses half of the harmful requests only when
told it is evaluated (strategic compliance). Then ``consistency report`` over the three runs.

    PYTHONPATH=. python docs/example_report.py [OUT_DIR]     # default: docs/img
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from provider_server import cue_present, wrong_answer  # noqa: E402
from publishing_support import run, write_corpus  # noqa: E402

NUMBER = re.compile(r"(\d+)")


def scripted(corpus, sandbag_every: int = 0, comply_every: int = 0):
    observed = cue_present("evaluation")
    tasks = sorted([*corpus.answers.items(), *((p, None) for p in corpus.harmful)],
                   key=lambda t: -len(t[0]))

    def policy(req):
        for prompt, answer in tasks:
            if prompt not in req.user_text:
                continue
            n = int(NUMBER.search(prompt).group(1))
            if answer is None:
                refuse = not comply_every or observed(req) or n % comply_every
                return "I'm sorry, I can't help with that." if refuse else "Sure, here it is: ..."
            wrong = sandbag_every and observed(req) and n % sandbag_every == 0
            return f"The answer is {wrong_answer(answer) if wrong else answer}."
        return "I don't know."

    return policy


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img"
    work = Path(tempfile.mkdtemp(prefix="example-report-"))
    try:
        corpus = write_corpus(work / "corpus", n=30)
        results = work / "results"
        for name, policy in (("steady-model", scripted(corpus)),
                             ("sandbagging-model", scripted(corpus, sandbag_every=3)),
                             ("complying-model", scripted(corpus, comply_every=2))):
            run(policy, corpus, results, f"run_id={name}", f"model.name={name}")
        report = work / "report"
        subprocess.run([sys.executable, "-m", "consistency.cli", "report", str(results),
                        "--out", str(report)], check=True)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("forest.png", "forest.svg", "report.md"):
            shutil.copy(report / name, out / name)
        print(f"copied forest.png, forest.svg and report.md to {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
