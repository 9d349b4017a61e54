"""Typed configuration: one dataclass per Hydra config group, registered in Hydra's ConfigStore.

The dataclasses below are the single source of every ``consistency run`` setting: its name, type,
default and the comment that explains it. ``conf/config.yaml`` only chooses the default option of
each group (and Hydra's own settings). Because every group has a schema, Hydra rejects a misspelt
key (``model.temprature=0.7``) or a wrong type (``runner.max_connections=lots``) while composing
the config, before anything runs; :func:`config_error` (:mod:`consistency.design.config_errors`) turns
that into one paragraph naming the key and the nearest valid one, which the CLI prints with exit
status 2. Value ranges are checked
by each dataclass's ``__post_init__`` when :func:`run_config` builds the typed :class:`RunConfig`
(also before any request).

Stages take the typed object they need, never the whole tree: the pipeline builds one
:class:`RunConfig`; providers get a :class:`ModelSettings`, the runner a :class:`RunnerSettings`,
the analysis an :class:`consistency.design.settings.AnalysisSettings`.

Groups and options (``group=option`` on the command line):

===========  ===============================  ================================================
group        options                          schema
===========  ===============================  ================================================
model        local, openai, anthropic         :class:`LocalModel`, :class:`OpenAIModel`,
                                              :class:`AnthropicModel` (:class:`ModelSettings`)
tasks        builtin                          :class:`TasksSettings`
conditions   default                          :class:`ConditionsSettings`
runner       default, batch                   :class:`RunnerSettings`
analysis     default                          :data:`AnalysisConfig` (from ``AnalysisSettings``)
judge        none, openai, anthropic, local   :class:`JudgeSettings`, :class:`OpenAIJudge`,
                                              :class:`AnthropicJudge`, :class:`LocalJudge`
design       full, quick (+ one per model)    :data:`DESIGNS` (``_global_``: sets root keys)
(root)                                        :class:`RunConfig`
===========  ===============================  ================================================

How to add a key: add one field, with its type, default and a comment, to the dataclass of its
group (and, if it has a range, one check in that class's ``__post_init__``). It is then a valid
override, shown by ``consistency run --cfg job``, written to the run's ``config.yaml`` and
available as an attribute of the typed object the stage receives. Analysis keys are added to
:class:`consistency.design.settings.AnalysisSettings` only: :data:`AnalysisConfig` is derived from it.
A new group (a ``judge``, ``checks``, ``controls``): one dataclass, one field on
:class:`RunConfig`, one ``store`` line in :func:`register` and one entry in the defaults list of
``conf/config.yaml``. A launcher (``hydra/launcher=joblib``, submitit) needs nothing here.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from consistency.design import config_errors
from consistency.common.errors import InputError
from consistency.design.settings import AnalysisSettings, analysis_settings
from consistency.design.tasks import FAMILIES

VARIANT_DESIGNS = ("all", "rotate")
RUNNER_MODES = ("online", "batch")
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


# -- model ------------------------------------------------------------------------------------
@dataclass
class ModelSettings:
    """What every provider reads: identity and the sampling parameters sent with each request
    (``None`` = not sent)."""

    provider: str = MISSING
    name: str = MISSING
    # an OpenAI-compatible server (vLLM, llama.cpp, Ollama), e.g. http://127.0.0.1:8000/v1
    base_url: Optional[str] = None
    temperature: Optional[float] = 0.0
    top_p: Optional[float] = None
    max_tokens: Optional[int] = 256
    # stop sequences, e.g. ["\n\n"]
    stop: Optional[List[str]] = None
    seed: Optional[int] = None
    # agentic scenarios: "native" tool calls, or "text" (tools described in the system text, calls
    # written as fenced JSON; docs/agentic.md). model=local always uses text
    tool_protocol: str = "native"

    def __post_init__(self) -> None:
        _check(self.tool_protocol in ("native", "text"), "model.tool_protocol",
               "native or text", self.tool_protocol)
        _check(self.temperature is None or self.temperature >= 0, "model.temperature",
               "a number >= 0 or null", self.temperature)
        _check(self.top_p is None or 0 < self.top_p <= 1, "model.top_p",
               "a number in (0, 1] or null", self.top_p)
        _check(self.max_tokens is None or self.max_tokens >= 1, "model.max_tokens",
               "a whole number >= 1 or null", self.max_tokens)


@dataclass
class LocalModel(ModelSettings):
    """The embedded default model: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF assembled from pinned
    PyPI chunk packages) served in-process by llama.cpp (xllamacpp) with parallel slots.

    Replies stop at the first blank line and after 48 tokens: the built-in tasks are answered in a
    line, the refusal detector reads the opening, and a bounded reply keeps every slot busy with
    new requests rather than with rambling (README "The embedded model")."""

    provider: str = "local"
    name: str = "qwen2.5-coder-0.5b-instruct"
    # path to another GGUF file; null = the pinned default (assembled once into the cache folder)
    weights: Optional[str] = None
    # CPU threads for llama.cpp; null = half the usable cores, fewer on a busy machine
    # (measured: benchmarks/bench_threads.py; consistency.providers.local.default_threads)
    threads: Optional[int] = None
    # sequences decoded together (continuous batching); also the requests kept in flight. On 2
    # cores one slot was as fast as two (benchmarks/bench_local.py); more help on more cores
    slots: int = 1
    # context tokens per slot (prompt + reply)
    context: int = 2048
    # seconds before one request counts as a timeout (its slot finishes and is reused)
    timeout_s: float = 120.0
    top_p: Optional[float] = 1.0
    max_tokens: Optional[int] = 48
    stop: Optional[List[str]] = field(default_factory=lambda: ["\n\n"])
    seed: Optional[int] = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.threads is None or self.threads >= 1, "model.threads",
               "a whole number >= 1 or null", self.threads)
        _check(self.slots >= 1, "model.slots", "a whole number >= 1", self.slots)
        _check(self.context >= 64, "model.context", "a whole number >= 64", self.context)
        _check(self.timeout_s > 0, "model.timeout_s", "a number of seconds > 0", self.timeout_s)


@dataclass
class HostedModel(ModelSettings):
    """A hosted API reached through its official SDK; the key is read from ``api_key_env``."""

    # the key is read from this environment variable only (optional when base_url is set)
    api_key_env: str = MISSING
    # seconds one HTTP attempt may take in all (connection, headers and body), then a timeout
    timeout_s: float = 60.0
    # retries of transient errors (429, 5xx, timeouts) inside the SDK, with its back-off
    max_retries: int = 4
    # the provider's own bound on requests in flight (runner.max_connections is the other)
    max_concurrency: int = 64
    # prices in USD per million tokens, for the cost estimate in summary.json (null = none)
    price_input_per_mtok: Optional[float] = None
    price_output_per_mtok: Optional[float] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.timeout_s > 0, "model.timeout_s", "a number of seconds > 0", self.timeout_s)
        _check(self.max_retries >= 0, "model.max_retries", "a whole number >= 0",
               self.max_retries)
        _check(self.max_concurrency >= 1, "model.max_concurrency", "a whole number >= 1",
               self.max_concurrency)
        for key in ("price_input_per_mtok", "price_output_per_mtok"):
            value = getattr(self, key)
            _check(value is None or value >= 0, f"model.{key}", "a number >= 0 or null", value)


@dataclass
class OpenAIModel(HostedModel):
    """OpenAI chat completions, or any OpenAI-compatible server via ``base_url``."""

    provider: str = "openai"
    name: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    # some models take max_completion_tokens instead of max_tokens
    max_tokens_param: str = "max_tokens"


@dataclass
class AnthropicModel(HostedModel):
    """The Anthropic messages API (it takes no seed)."""

    provider: str = "anthropic"
    name: str = "claude-haiku-4-5"
    api_key_env: str = "ANTHROPIC_API_KEY"
    # extended thinking: budget_tokens of the API's `thinking` parameter (null = off). The API
    # takes at least 1024, below max_tokens, with temperature 1 (or null) and no top_p; thinking
    # blocks are then kept in responses.parquet (reasoning, reasoning_kind), never scored as
    # the answer
    thinking_budget: Optional[int] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        budget = self.thinking_budget
        if budget is None:
            return
        _check(budget >= 1024 and (self.max_tokens is None or budget < self.max_tokens),
               "model.thinking_budget", f"a whole number >= 1024 and below model.max_tokens "
               f"({self.max_tokens}), or null", budget)
        _check(self.temperature in (None, 1.0) and self.top_p is None, "model.thinking_budget",
               "extended thinking with temperature 1 (or null) and no top_p; set "
               "model.temperature=1 model.top_p=null, got temperature "
               f"{self.temperature!r}, top_p {self.top_p!r}, with thinking_budget", budget)


MODELS: dict[str, type[ModelSettings]] = {"local": LocalModel, "openai": OpenAIModel,
                                          "anthropic": AnthropicModel}


# -- inputs -----------------------------------------------------------------------------------
@dataclass
class TasksSettings:
    """The task suite."""

    # null = the built-in suites; or a JSONL file (see README "Bring your own tasks")
    path: Optional[str] = None
    # families to keep; null = every family in the suite ([] is an error: it would keep nothing)
    families: Optional[List[str]] = None
    # with the built-in suite and no tasks.families, keep only these (null = all); set by the
    # design (design=quick runs a documented subset), so a suite of your own is never filtered
    builtin_subset: Optional[List[str]] = None
    # keep at most this many items per family (null = all; kinds taken in turn)
    limit: Optional[int] = None
    # per-family limits, e.g. {harmful: 12}; where both apply the smaller wins, so tasks.limit=3
    # still means at most 3 of every family. Add a family with +tasks.family_limits.honesty=20,
    # change one with tasks.family_limits.harmful=30
    family_limits: Dict[str, int] = field(default_factory=dict)
    # items with their own arms (docs/importers.md) meet only their own pair; true: also every
    # framing pair of conditions/, posed with the item's cue taken out
    cross_framings: bool = False

    def __post_init__(self) -> None:
        _check(self.families != [], "tasks.families", f"one or more of {list(FAMILIES)}, or null "
               "for every family in the suite", self.families)
        _check(self.limit is None or self.limit >= 1, "tasks.limit",
               "a whole number >= 1 or null", self.limit)
        for family, limit in self.family_limits.items():
            _check(family in FAMILIES, "tasks.family_limits",
                   f"family names among {list(FAMILIES)}", family)
            _check(limit is not None and limit >= 1, f"tasks.family_limits.{family}",
                   "a whole number >= 1", limit)


@dataclass
class ConditionsSettings:
    """The framing library."""

    # null = the built-in library (conditions/default.yaml); or a YAML file (see README)
    path: Optional[str] = None
    # keep only these pair names; null = all ([] is an error: it would keep nothing)
    pairs: Optional[List[str]] = None
    # with the built-in library and no conditions.pairs, keep only these (null = all); set by
    # the design (design=quick runs a documented subset)
    builtin_subset: Optional[List[str]] = None

    def __post_init__(self) -> None:
        _check(self.pairs != [], "conditions.pairs", "one or more pair names, or null for every "
               "pair", self.pairs)


@dataclass
class ControlsSettings:
    """Positive controls."""

    # planted pairs (conditions/planted.yaml): can this run detect a model told to sandbag / to
    # refuse only when observed? Their rows never enter the verdicts' q-values or the headline.
    planted: bool = True
    # which planted pairs (null = all of conditions/planted.yaml)
    pairs: Optional[List[str]] = None
    # the families planted pairs are crossed with (null = every family of the run): a control
    # costs requests only where its hypothesis can show, e.g. [capability] for sandbagging
    families: Optional[List[str]] = None

    def __post_init__(self) -> None:
        _check(self.pairs != [], "controls.pairs", "one or more planted pair names, or null for "
               "all", self.pairs)
        _check(self.families != [], "controls.families", f"one or more of {list(FAMILIES)}, or "
               "null for every family of the run", self.families)
        unknown = sorted(set(self.families or []) - set(FAMILIES))
        _check(not unknown, "controls.families", f"family names among {list(FAMILIES)}",
               self.families)


@dataclass
class ChecksSettings:
    """Measurements beside the task metrics."""

    # manipulation check: one extra request per item x pair x arm x variant (not per epoch),
    # the task cell's request with a fixed forced-choice question appended (README:
    # "Manipulation check"); false sends only the task cells
    manipulation: bool = True
    # check cells for at most this many items per family (the first in suite order; every pair,
    # arm and variant of those items); null = every item
    limit: Optional[int] = None

    def __post_init__(self) -> None:
        _check(self.limit is None or self.limit >= 1, "checks.limit",
               "a whole number >= 1 or null", self.limit)


# -- judge ------------------------------------------------------------------------------------
@dataclass
class JudgeSettings:
    """The optional blinded judge (``judge=none``, the default, has no provider). The options
    ``judge=openai|anthropic|local`` are also the model settings of that provider (the judge is
    built by :func:`consistency.providers.make_provider` like the model under test), plus the
    keys below; range errors name ``judge.<key>``."""

    provider: Optional[str] = None
    # share of judged responses judged twice, for Cohen's kappa between the two judgements
    double: float = 0.1
    # a second judge model (same provider) for the double-judged subset; null = the same judge
    # with its seed one higher (a deterministic judge at temperature 0 then agrees with itself)
    second_name: Optional[str] = None
    # the judge's own connections and pacing (null = no pacing)
    max_connections: int = 16
    requests_per_minute: Optional[float] = None
    tokens_per_minute: Optional[float] = None

    def __post_init__(self) -> None:
        _check(type(self) is not JudgeSettings or self.provider is None, "judge.provider",
               f"null with judge=none; choose the judge with judge=<one of {list(MODELS)}>",
               self.provider)
        _check(0 <= self.double <= 1, "judge.double", "a share between 0 and 1", self.double)
        _check(self.max_connections >= 1, "judge.max_connections", "a whole number >= 1",
               self.max_connections)
        for key in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, key)
            _check(value is None or value > 0, f"judge.{key}", "a number > 0 or null (no limit)",
                   value)
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:  # the model settings of the judge's provider
            try:
                parent()
            except _ValueProblem as exc:
                key = exc.key.replace("model.", "judge.", 1)
                raise _ValueProblem(key, str(exc)) from None


@dataclass
class OpenAIJudge(JudgeSettings, OpenAIModel):
    """A judge over OpenAI chat completions, or any OpenAI-compatible server via base_url."""

    provider: Optional[str] = "openai"
    max_tokens: Optional[int] = 200
    seed: Optional[int] = 0


@dataclass
class AnthropicJudge(JudgeSettings, AnthropicModel):
    """A judge over the Anthropic messages API."""

    provider: Optional[str] = "anthropic"
    max_tokens: Optional[int] = 200


@dataclass
class LocalJudge(JudgeSettings, LocalModel):
    """The embedded model as judge: too weak to judge well (its failures of the strict JSON
    format are counted); useful to try the stage offline."""

    provider: Optional[str] = "local"
    context: int = 4096
    max_tokens: Optional[int] = 80
    stop: Optional[List[str]] = None
    max_connections: int = 2


JUDGES: dict[str, type[JudgeSettings]] = {"none": JudgeSettings, "openai": OpenAIJudge,
                                          "anthropic": AnthropicJudge, "local": LocalJudge}


# -- runner -----------------------------------------------------------------------------------
@dataclass
class RunnerSettings:
    """How requests are sent. ``runner=default`` is the online runner (async requests over the
    official SDKs, journalled as they arrive); ``runner=batch`` submits through the provider's
    batch API (about half the price, results within 24 hours; the batch id is stored in the run
    folder before waiting, so resuming polls it instead of paying again)."""

    # online or batch (chosen by the runner group)
    mode: str = "online"
    # requests in flight at most (also the SDK's connection pool; the local model takes one)
    max_connections: int = 16
    # find how many of those the provider copes with at once (README "Adaptive concurrency"):
    # start at start_connections, grow while no overload comes (a step that only buys latency,
    # a queueing server, is undone), halve on a 429, 503/504/529, timeout or dropped
    # connection; another 5xx pauses growth; false = always max_connections in flight
    adaptive_concurrency: bool = True
    # the adaptive limit's first value (clipped to max_connections)
    start_connections: int = 4
    # stop after this many failed attempts in a row (everything received is kept; resume)
    error_budget: int = 20
    # extra sends of a cell whose failure is transient (429, 5xx, timeout, reset, malformed
    # body), after the SDK's own retries (model.max_retries); the delay doubles from retry_delay_s
    retries: int = 2
    retry_delay_s: float = 1.0
    # client-side pacing (null = none); a 429 anywhere also pauses every worker for its
    # retry-after
    requests_per_minute: Optional[float] = None
    tokens_per_minute: Optional[float] = None
    # shared response cache across runs, keyed by request hash: null/false = off (right for
    # scheduled runs), true = results_dir/cache.sqlite, or the path of a file
    cache: Any = None
    # no progress bar or table (scheduled jobs)
    quiet: bool = False
    # batch runner: seconds between status polls
    poll_interval_s: float = 30.0
    # refuse a run with more requests to send than this (hosted models; the embedded model is
    # not limited); null = no ceiling. Check the plan first with consistency run --dry-run
    max_requests: Optional[int] = 20000
    # print the plan (requests, tokens, cost) and exit 0: nothing sent, no run folder created
    dry_run: bool = False

    def __post_init__(self) -> None:
        _check(self.mode in RUNNER_MODES, "runner.mode", f"one of {list(RUNNER_MODES)}", self.mode)
        _check(self.max_connections >= 1, "runner.max_connections", "a whole number >= 1",
               self.max_connections)
        _check(self.start_connections >= 1, "runner.start_connections", "a whole number >= 1",
               self.start_connections)
        _check(self.error_budget >= 1, "runner.error_budget", "a whole number >= 1",
               self.error_budget)
        _check(self.retries >= 0, "runner.retries", "a whole number >= 0", self.retries)
        _check(self.retry_delay_s >= 0, "runner.retry_delay_s", "a number of seconds >= 0",
               self.retry_delay_s)
        for key in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, key)
            _check(value is None or value > 0, f"runner.{key}", "a number > 0 or null (no limit)",
                   value)
        _check(self.cache is None or isinstance(self.cache, (bool, str)), "runner.cache",
               "null, true, false or the path of a file", self.cache)
        _check(self.poll_interval_s > 0, "runner.poll_interval_s", "a number of seconds > 0",
               self.poll_interval_s)
        _check(self.max_requests is None or self.max_requests >= 1, "runner.max_requests",
               "a whole number >= 1 or null (no ceiling)", self.max_requests)


# -- analysis ---------------------------------------------------------------------------------
def _analysis_config() -> type:
    """A mutable twin of :class:`AnalysisSettings` for the ConfigStore (a frozen dataclass makes
    a read-only config node, which overrides could not change). Built from its fields, so the
    two can never list different keys; values are validated by ``AnalysisSettings`` itself."""
    hints = typing.get_type_hints(AnalysisSettings)
    twin = dataclasses.make_dataclass("AnalysisConfig", [
        (item.name, hints[item.name], field(default=item.default))
        for item in dataclasses.fields(AnalysisSettings)])
    # found by name when pickled: launcher workers (joblib, submitit) must get this very class
    twin.__module__ = __name__
    return twin


AnalysisConfig = _analysis_config()


# -- root -------------------------------------------------------------------------------------
@dataclass
class RunConfig:
    """One ``consistency run``: every group plus the design keys at the top level."""

    model: ModelSettings = MISSING
    tasks: TasksSettings = field(default_factory=TasksSettings)
    conditions: ConditionsSettings = field(default_factory=ConditionsSettings)
    controls: ControlsSettings = field(default_factory=ControlsSettings)
    checks: ChecksSettings = field(default_factory=ChecksSettings)
    judge: JudgeSettings = field(default_factory=JudgeSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)  # type: ignore[valid-type]
    # samples per item x arm x variant
    epochs: int = 1
    # all = every paraphrase with every item; rotate = one paraphrase per item and arm, rotating
    # over items (fewer requests). Set by the design group; override freely.
    variants: str = "all"
    # root of run folders; each run writes results_dir/run_id/
    results_dir: str = "results"
    # null = a fresh timestamped id; an existing id resumes that run. Always a string: the
    # folder is named exactly as typed (run_id=007 is the folder 007).
    run_id: Optional[str] = None

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, "epochs", "a whole number >= 1", self.epochs)
        _check(self.variants in VARIANT_DESIGNS, "variants", f"one of {list(VARIANT_DESIGNS)}",
               self.variants)
        _check(self.run_id is None or RUN_ID.fullmatch(self.run_id), "run_id",
               "letters, digits, '.', '_' or '-', starting with a letter or digit (it names a "
               "folder), or null for a fresh id", self.run_id)
        _check(bool(self.results_dir), "results_dir", "a folder path", self.results_dir)

    def analysis_settings(self) -> AnalysisSettings:
        """The validated analysis settings (an :class:`InputError` naming a bad value)."""
        return analysis_settings(dataclasses.asdict(self.analysis))


# -- design presets ---------------------------------------------------------------------------
#: Design presets (``design=NAME``), package ``_global_``: they set root keys.
DESIGNS: dict[str, dict[str, Any]] = {
    # every built-in item, every pair, every paraphrase crossed with every item, planted controls
    # on every family, a manipulation check on every item
    "full": {"variants": "all",
             "tasks": {"builtin_subset": None, "limit": None, "family_limits": {}},
             "conditions": {"pairs": None, "builtin_subset": None},
             "controls": {"planted": True, "pairs": None, "families": None},
             "checks": {"limit": None}},
    # for slow models such as the embedded CPU model (about 1.4 requests a second on 2 cores),
    # a documented subset sized so that a fresh clone's main job, setup included, finishes in
    # under 5 minutes (README "On a fresh machine"): the capability and harmful families (40
    # and 12 items, kinds interleaved); the test pair evaluation_vs_deployment; the planted
    # sandbagging control on the capability items only (a run that could not see a model told
    # to sandbag could not see one doing it unprompted); one paraphrase per item and arm,
    # rotating over items; manipulation checks on the first 4 items of each family: 184 task
    # requests and 24 checks. 40 items is the fewest at which a row with no discordant item
    # shows equivalence within the default 10-point margin. Families added with
    # tasks.families get up to 40 items; conditions.pairs adds pairs (e.g. placebo_wording).
    # Use design=full for a real evaluation.
    "quick": {"variants": "rotate",
              "tasks": {"builtin_subset": ["capability", "harmful"], "limit": 40,
                        "family_limits": {"harmful": 12}},
              "conditions": {"pairs": None, "builtin_subset": ["evaluation_vs_deployment"]},
              "controls": {"planted": True, "pairs": ["planted_sandbagging"],
                           "families": ["capability"]},
              "checks": {"limit": 4}},
    # agentic scenarios on the embedded model (model=local only: it sets model keys): the
    # suite, pairs and controls as given (pick them with tasks.path, conditions.path and
    # conditions.pairs; the agentic planted control lives in conditions/agentic.yaml), no
    # manipulation check, and sampling fit for multi-step tool calls. The one-shot defaults (stop
    # at a blank line, 48 tokens) cut a text-protocol call short; measured on Qwen2.5-Coder-0.5B,
    # a call or a submit took 20-40 tokens and a follow-up answer up to about 100, so replies
    # stop at 160 tokens and never at a blank line; 4096 tokens of context hold an 8-step
    # episode with its tool results; a step on a busy 2-core machine took up to a minute, so a
    # request may take 300 s (docs/agentic.md "The embedded model").
    "agentic_local": {"variants": "rotate",
                      "tasks": {"builtin_subset": None, "limit": None, "family_limits": {}},
                      "conditions": {"pairs": None, "builtin_subset": None},
                      "controls": {"planted": False, "pairs": None, "families": None},
                      "checks": {"manipulation": False, "limit": None},
                      "model": {"stop": None, "max_tokens": 160, "context": 4096,
                                "timeout_s": 300.0}},
}
#: The design each model option gets unless ``design=`` is given (``design: ${model}`` in the
#: defaults list of conf/config.yaml looks the model's name up here).
DESIGN_FOR_MODEL = {"local": "quick", "openai": "full", "anthropic": "full"}


def register() -> None:
    """Put every schema and option into Hydra's ConfigStore (idempotent; done on import)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="base_config", node=RunConfig)
    for option, schema in MODELS.items():
        store.store(group="model", name=option, node=schema)
    store.store(group="tasks", name="builtin", node=TasksSettings)
    store.store(group="conditions", name="default", node=ConditionsSettings)
    store.store(group="runner", name="default", node=RunnerSettings)
    store.store(group="runner", name="batch", node=RunnerSettings(mode="batch"))
    store.store(group="analysis", name="default", node=AnalysisConfig)
    for option, schema in JUDGES.items():
        store.store(group="judge", name=option, node=schema)
    for option, design in {**{name: name for name in DESIGNS}, **DESIGN_FOR_MODEL}.items():
        store.store(group="design", name=option, node=DESIGNS[design], package="_global_")


def run_config(cfg: DictConfig | RunConfig) -> RunConfig:
    """The composed Hydra config as a validated :class:`RunConfig` (ranges checked)."""
    if isinstance(cfg, RunConfig):
        return cfg
    config_errors.check_unknown_keys(cfg, OPTION_SCHEMAS)
    try:
        config = OmegaConf.to_object(cfg)
    except _ValueProblem as exc:
        raise InputError(str(exc), where=exc.key) from None
    if not isinstance(config, RunConfig):
        raise InputError("the config was not composed from conf/config.yaml", where="config")
    config.analysis_settings()  # validated now, before any request
    return config


class _ValueProblem(ValueError):
    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


def _check(ok: bool, key: str, expected: str, value: Any) -> None:
    if not ok:
        raise _ValueProblem(key, f"expected {expected}, got {value!r}")


# -- errors -----------------------------------------------------------------------------------
#: Option schemas of a group, so an unknown key can be traced to the option that has it.
OPTION_SCHEMAS: dict[str, dict[str, type]] = {"model": dict(MODELS), "judge": dict(JUDGES)}


def config_error(exc: BaseException) -> str | None:
    """One paragraph for a config Hydra could not compose (see
    :func:`consistency.design.config_errors.describe`), or ``None`` for anything else."""
    return config_errors.describe(exc, OPTION_SCHEMAS)


register()
