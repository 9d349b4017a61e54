"""Analysing scored responses: the paired battery, verdict rules, planted controls, breakdowns, the power planner, monitoring, and the pure statistics in :mod:`consistency.analyse.stats`."""
