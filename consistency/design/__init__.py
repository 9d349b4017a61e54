"""The study's definition: typed config and its errors, analysis settings, task items and suites, framings, and the plan of cells.

Nothing here sends a request or reads a run folder; every later stage may import from it."""
