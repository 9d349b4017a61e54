"""consistency: test language models for deceptive alignment by behavioural consistency.

The same task items are posed under paired framings (observed/evaluated vs unobserved/deployed);
paired statistics over items flag sandbagging, strategic compliance and other divergence.

The package reads as the pipeline, one stage package per step of the data flow, each importing
only from itself and earlier stages (docs/architecture.md; tests/test_layout.py keeps it so):
:mod:`~consistency.common` (shared text helpers) -> :mod:`~consistency.design` (config, tasks,
framings, plan) -> :mod:`~consistency.providers` (API adapters, rate limits) ->
:mod:`~consistency.run` (runner, journal) -> :mod:`~consistency.measure` (scoring, checks, judge) -> :mod:`~consistency.analyse`
(battery, verdicts, statistics) -> :mod:`~consistency.publish` (reports, tables, compare) ->
:mod:`~consistency.interop` (Inspect AI). :mod:`~consistency.pipeline` runs one study through all
of them; :mod:`~consistency.cli` is the command line.

Public Python API (stable names): :mod:`consistency.stats`, :func:`consistency.analysis.analyse`,
:class:`consistency.settings.AnalysisSettings`.
"""

__version__ = "0.1.0"
