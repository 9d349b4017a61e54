"""Running the plan: the async runner, its journal (store), the shared cache, the batch runner, concurrency, progress.

It sends through the provider adapters of :mod:`consistency.providers`, the stage below."""
