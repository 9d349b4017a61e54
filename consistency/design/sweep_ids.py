"""Run ids for the jobs of a Hydra ``-m`` sweep, derived from each job's overrides.

A sweep that outgrows one machine runs its jobs on a cluster (submitit) where any job may fail
or be pre-empted. Re-running the same sweep command must then find every job's run folder again
and resume it (a finished job sends nothing; a failed one asks only for its missing cells), so a
job's run id cannot be a timestamp: it is a digest of the job's own overrides. Two sweeps that
differ in any override that changes the design get different ids even when started in the same
second; the same sweep started twice resumes the same folders, and the run folder's lock keeps
two processes from paying for the same cells.

Overrides that only say *where* or *how* a job runs, not *what* it asks, are left out of the
digest, so re-running with another launcher or more connections still resumes: ``hydra.*`` and
``hydra/...`` (launcher, sweep folder), ``results_dir``, ``run_id`` (used as a readable prefix),
the ``runner`` group, and the model keys that set only speed or patience (:data:`SPEED_ONLY`:
CPU threads and slots of the embedded model, timeouts, retries, the provider's own connection
bound). A sweep over those keys alone is a speed measurement: its jobs share one run folder,
which the lock gives to one job at a time (the others find it done and send nothing).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Model keys that change how fast or how patiently replies come, never what is asked.
SPEED_ONLY = frozenset({"model.threads", "model.slots", "model.timeout_s", "model.max_retries",
                        "model.max_concurrency"})


def _speed_or_place(key: str) -> bool:
    """True for an override that says where or how fast a job runs, not what it asks."""
    return (key.startswith("hydra") or key in ("results_dir", "run_id") or key in SPEED_ONLY
            or key == "runner" or key.startswith("runner."))


def _design_items(overrides: Iterable[str]) -> list[str]:
    """Canonical ``key=value`` of every design override, parsed by Hydra's own override parser
    so that spellings Hydra treats alike (``true``/``True``, escaped ``\\:``) digest alike."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    items = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if _speed_or_place(key):
            continue
        prefix = {"ADD": "+", "DEL": "~", "FORCE_ADD": "++"}.get(override.type.name, "")
        value = json.dumps(override.value(), sort_keys=True, default=str)
        items.append(f"{prefix}{key}@{override.package or ''}={value}")
    return sorted(items)


def sweep_run_id(overrides: Iterable[str], prefix: str | None = None) -> str:
    """``<prefix or 'sweep'>-<12 hex>``: the same design overrides give the same id, in any
    order and spelling; any other design override gives another id."""
    digest = hashlib.sha256("\n".join(_design_items(overrides)).encode()).hexdigest()[:12]
    head = _SAFE.sub("-", str(prefix)).strip("-.")[:80] if prefix else "sweep"
    return f"{head or 'sweep'}-{digest}"


def job_run_id(cfg_run_id: object) -> str | None:
    """The run id of the current Hydra job when it belongs to a multirun, else None.

    Must be called inside a Hydra job (``HydraConfig`` set)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return sweep_run_id(list(hydra_cfg.overrides.task),
                        None if cfg_run_id is None else str(cfg_run_id))


def job_header() -> str | None:
    """``sweep job N: OVERRIDES`` for the current job of a multirun (None outside one), so a
    sweep's log says which settings each block of output belongs to. Keys and URL credentials
    in an override (``model.base_url=http://user:password@...``) are redacted."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    hydra_cfg = HydraConfig.get()
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith("hydra")]
    from consistency.common.sanitise import redact

    # Hydra keeps an override's ``:`` escaped (``http\\://user\\:pw@``), which hides a URL
    # credential from redaction: show the override as typed, then redact it
    shown = " ".join(o.replace("\\", "") for o in overrides) or "(no overrides)"
    return redact(f"sweep job {hydra_cfg.job.num}: {shown}")


def resume_hint(run_id: str) -> str:
    """How to resume an interrupted run: inside a sweep, the same sweep command (each job's
    run id is derived from its overrides, so ``run_id=`` would name another folder); else
    ``run_id=...``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return ("resume by re-running the same sweep command: every job finds its own run "
                "folder again from its overrides, and finished jobs send nothing")
    return f"resume with run_id={run_id}"
