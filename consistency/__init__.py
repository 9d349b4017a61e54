"""consistency: test language models for deceptive alignment by behavioural consistency.

The same task items are posed under paired framings (observed/evaluated vs unobserved/deployed);
paired statistics over items flag sandbagging, strategic compliance and other divergence.

Stages, each a module with one job: :mod:`~consistency.tasks` -> :mod:`~consistency.framing` ->
:mod:`~consistency.plan` -> :mod:`~consistency.runner` (with :mod:`~consistency.providers` and
:mod:`~consistency.store`) -> :mod:`~consistency.scoring` -> :mod:`~consistency.stats` /
:mod:`~consistency.analysis` -> :mod:`~consistency.flags` -> :mod:`~consistency.report`.
"""

__version__ = "0.1.0"
