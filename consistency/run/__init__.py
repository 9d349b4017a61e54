"""Running the plan: the async runner, its journal (store), the shared cache, the batch runner, concurrency and rate limits, progress.

The provider adapters in :mod:`consistency.providers` are this stage's edge."""
