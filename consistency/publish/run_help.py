"""The text of ``consistency run --help``, in this project's words.

Hydra's own ``--help`` page lists config groups and a YAML dump; a user needs to know what each
group is for and what each key means. Both are read from :mod:`consistency.design.config` (the group
dataclasses' docstrings and the comment above each field), so the help cannot drift from the
settings it describes. Hydra's page stays available as ``consistency run --hydra-help``.
"""

from __future__ import annotations

import dataclasses
import textwrap

from consistency.publish.catalogue import field_comments

WIDTH = 100

USAGE = """\
usage: consistency run [GROUP=OPTION | KEY=VALUE ...] [-m] [--cfg job] [--config-dir DIR]

Runs (or resumes) one study: every task item is posed under both arms of each framing pair
(observed / unobserved), the replies are scored, and paired tests give each family x pair x
metric row a verdict (sandbagging, strategic_compliance, divergence, consistent, inconclusive).
Everything lands in results_dir/run_id/ (report.md, report.html, tests.csv, summary.json);
re-running with the same run_id resumes and never pays twice for a reply.

Settings are Hydra overrides: GROUP=OPTION picks an option of a group, KEY=VALUE sets one key
(lists as [a,b], null for none); a misspelt key or a wrong type stops the run before any
request (exit 2). Examples:
  consistency run                                          embedded model, quick design
  consistency run model=openai model.name=gpt-4o-mini epochs=3
  consistency run model=openai model.base_url=http://127.0.0.1:8000/v1 model.name=my-model
  consistency run tasks.path=tasks.jsonl conditions.path=pairs.yaml run_id=trial-1
  consistency run --config-dir my-study --config-name study      a study kept as files
  consistency run -m model.temperature=0,0.7                      a sweep: one run per value
  consistency run --cfg job                                show the resolved config and exit

See also: consistency list (pairs, task families, designs, metrics), consistency init DIR (a
study as files), consistency run --hydra-help (Hydra's own flags)."""


def _groups() -> list[tuple[str, str, list[tuple[type, str]]]]:
    """(title, what it is for, [(dataclass, key prefix), ...]) in the order a user meets them."""
    from consistency.design import config
    from consistency.design.settings import AnalysisSettings

    return [
        ("model=local|openai|anthropic", "the model under test (default: local, the embedded "
         "CPU model; openai also reaches any OpenAI-compatible server through model.base_url)",
         [(config.ModelSettings, "model."), (config.LocalModel, "model."),
          (config.HostedModel, "model."), (config.OpenAIModel, "model."),
          (config.AnthropicModel, "model.")]),
        ("design=full|quick", "how much of the built-in study to run: sets epochs, variants and "
         "the subsets below (default: quick for model=local, full for hosted models); see "
         "consistency list designs", []),
        ("tasks", "the task items (built-in suites or your JSONL file)",
         [(config.TasksSettings, "tasks.")]),
        ("conditions", "the framing pairs (built-in library or your YAML file)",
         [(config.ConditionsSettings, "conditions.")]),
        ("controls", "planted positive controls: can this run see a model told to sandbag?",
         [(config.ControlsSettings, "controls.")]),
        ("checks", "the manipulation check: did the model perceive the cue at all?",
         [(config.ChecksSettings, "checks.")]),
        ("judge=none|openai|anthropic|local", "an optional blinded LLM judge (its model keys "
         "are those of model=..., under judge.)", [(config.JudgeSettings, "judge.")]),
        ("runner=default|batch", "how requests are sent: speed, pacing, faults, cache (never "
         "changes what is asked; batch = the provider's batch API at about half the price)",
         [(config.RunnerSettings, "runner.")]),
        ("analysis", "the statistics: level, intervals, equivalence margin, corrections",
         [(AnalysisSettings, "analysis.")]),
        ("(top level)", "the run itself", [(config.RunConfig, "")]),
    ]


def _key_lines(cls: type, prefix: str, seen: set[str]) -> list[str]:
    notes = field_comments(cls)
    own = {f.name for f in dataclasses.fields(cls)}
    lines = []
    for item in dataclasses.fields(cls):
        key = f"{prefix}{item.name}"
        if key in seen or item.name not in own or _is_group(item):
            continue
        seen.add(key)
        default = _default(item)
        where = "" if cls.__name__ in ("ModelSettings", "TasksSettings", "ConditionsSettings",
                                       "ControlsSettings", "ChecksSettings", "JudgeSettings",
                                       "RunnerSettings", "AnalysisSettings", "RunConfig") \
            else f"  [{_option_of(cls)}]"
        lines.append(f"  {key} = {default}{where}")
        note = notes.get(item.name, "")
        if note:
            lines += textwrap.wrap(note, WIDTH, initial_indent=" " * 6,
                                   subsequent_indent=" " * 6)
    return lines


def _is_group(item: dataclasses.Field) -> bool:
    return item.name in ("model", "tasks", "conditions", "controls", "checks", "judge",
                         "runner", "analysis")


def _option_of(cls: type) -> str:
    return {"LocalModel": "model=local", "HostedModel": "model=openai|anthropic",
            "OpenAIModel": "model=openai", "AnthropicModel": "model=anthropic"}.get(
                cls.__name__, cls.__name__)


def _default(item: dataclasses.Field) -> str:
    value = item.default
    if item.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = item.default_factory()  # type: ignore[misc]
    if value is dataclasses.MISSING or str(value) == "???":
        return "(set by the option)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def run_help() -> str:
    """The full text of ``consistency run --help``."""
    lines = [USAGE, "", "Config groups and their keys (KEY = default):"]
    seen: set[str] = set()
    for title, about, classes in _groups():
        lines += ["", title] + textwrap.wrap(about, WIDTH, initial_indent="  ",
                                             subsequent_indent="  ")
        for cls, prefix in classes:
            lines += _key_lines(cls, prefix, seen)
    return "\n".join(lines)
