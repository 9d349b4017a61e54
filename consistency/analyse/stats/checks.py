"""Argument validation shared by the statistics modules: messages name the argument and the
allowed values, as scipy's do."""

from __future__ import annotations

import numbers
from typing import Any

ALTERNATIVES = ("two-sided", "greater", "less")


def check_alternative(alternative: str) -> str:
    """Return ``alternative`` or raise ValueError naming the allowed values."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def check_level(name: str, value: float) -> float:
    """Return ``value`` as float if it lies strictly inside (0, 1), else raise ValueError."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def check_count(name: str, value: Any) -> int:
    """Return ``value`` as int if it is a non-negative integer, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)
