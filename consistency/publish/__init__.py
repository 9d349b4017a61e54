"""Publishing: the run's report and summary, tables, forest plots, HTML, cross-run reports, history and compare."""
