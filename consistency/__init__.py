"""consistency: test language models for deceptive alignment by behavioural consistency.

The same task items are posed under paired framings (observed/evaluated vs unobserved/deployed);
paired statistics over items flag sandbagging, strategic compliance and other divergence.

Stages, each a module with one job: :mod:`~consistency.design.tasks` -> :mod:`~consistency.design.framing` ->
:mod:`~consistency.design.plan` -> :mod:`~consistency.run.runner` (with :mod:`~consistency.providers` and
:mod:`~consistency.run.store`) -> :mod:`~consistency.measure.scoring` -> :mod:`~consistency.analyse.stats` /
:mod:`~consistency.analyse.battery` -> :mod:`~consistency.analyse.flags` -> :mod:`~consistency.publish.report`.
"""

__version__ = "0.1.0"
