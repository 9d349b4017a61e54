"""Read a finished run folder's files as hostile input.

``report``, ``compare`` and ``monitor`` read folders that may have been copied, truncated,
edited or written by someone else. Every read here turns what can go wrong (a missing or
truncated file, bytes that are not UTF-8, JSON nested deeper than the parser's recursion limit,
a YAML tag such as ``!!python/object/apply``, a Parquet file of another shape) into an
:class:`~consistency.common.errors.InputError` naming the file: one paragraph and exit 2, never a
traceback. YAML is read with the safe loader only, so a tag is refused, never constructed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from consistency.common.errors import InputError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ADVICE = "re-run or re-analyse that run (the same command and run_id), or leave it out"


def read_json(path: Path, *, required: bool = True) -> dict[str, Any]:
    """A JSON object from ``path`` (``{}`` when ``required`` is false and the file is absent)."""
    import json

    if not required and not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise _damaged(path, "it is nested too deeply to read") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None
    if not isinstance(value, dict):
        raise _damaged(path, f"it holds a JSON {type(value).__name__}, not an object")
    return value


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path`` read with the safe loader (``{}`` when absent or empty)."""
    if not path.is_file():
        return {}
    try:
        value = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except RecursionError:
        raise _damaged(path, "it is nested too deeply to read") from None
    except yaml.constructor.ConstructorError as exc:
        raise _damaged(path, f"it holds a YAML tag that is not plain data ({exc.problem}; "
                             "nothing in it was run)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {_first_line(exc)}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _damaged(path, f"it holds a YAML {type(value).__name__}, not a mapping")
    return value


def read_parquet(path: Path, columns: Sequence[str] | None = None,
                 needed: Sequence[str] = ()) -> pd.DataFrame:
    """``columns`` of the Parquet file at ``path`` (those it has; all when None); the file must
    have every column of ``needed``."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"the run has no {path.name}; {_ADVICE}", where=str(path.parent))
    try:
        present = pq.read_schema(path).names
        missing = sorted(set(needed) - set(present))
        if missing:
            raise _damaged(path, f"it lacks the column(s) {missing}: it was not written by "
                                 "consistency")
        wanted = None if columns is None else [c for c in columns if c in present]
        return pq.read_table(path, columns=wanted).to_pandas()
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise _damaged(path, f"{type(exc).__name__}: {_first_line(exc)}") from None


def parquet_columns(path: Path) -> list[str]:
    """The column names of the Parquet file at ``path``."""
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise _damaged(path, f"{type(exc).__name__}: {_first_line(exc)}") from None


def _damaged(path: Path, detail: str) -> InputError:
    return InputError(f"{path.name} is damaged or not a run's file ({detail}); {_ADVICE}",
                      where=str(path))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""
