"""What an imported run records about where it came from: the Inspect versions the import was
tested with, this side's environment and the mapping used.

Both the import command (:mod:`consistency.interop.inspect_import`) and the run-folder writer
(:mod:`consistency.interop.inspect_run`) need these records; keeping them here lets the writer
stay below the command instead of importing it back.
"""

from __future__ import annotations

import platform
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from consistency.interop.inspect_mapping import ImportMapping

#: Inspect versions the import was tested with (tests/test_inspect_import.py checks the one used).
TESTED_INSPECT = ("0.3.285", "0.3.285")


def environment(python: str, logs: list[dict]) -> dict[str, Any]:
    """``environment.json`` of an imported run: this side's versions and the logs' models."""
    packages = {}
    for name in ("consistency", "pandas", "scipy", "numpy"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "platform": platform.platform(),
            "packages": packages, "inspect_python": python,
            "models_reported": sorted({log.get("model") or "" for log in logs}),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def mapping_record(mapping: ImportMapping) -> dict[str, Any]:
    record = asdict(mapping)
    record.pop("sources")
    return record
