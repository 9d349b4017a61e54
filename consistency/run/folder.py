"""The run folder as both runners (online and batch) create it: the folder itself, checked
writable before any request, and the resolved config written into it.

Shared here so that the batch runner (:mod:`consistency.run.batch`) and the pipeline
(:mod:`consistency.pipeline`) use one rule without importing each other.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from omegaconf import OmegaConf

from consistency.common.errors import InputError
from consistency.common.sanitise import redact
from consistency.design.config import RunConfig


def make_run_folder(folder: Path) -> None:
    """Create ``results_dir/run_id`` (or accept it as it is); an :class:`InputError` naming the
    path when it cannot be: a file in the way, or no permission."""
    for parent in (folder.parent, *folder.parent.parents):
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{parent} is a file, not a folder; results_dir must name a folder "
                             "(it is created if missing)", where="results_dir")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file, not a run folder; choose another run_id",
                         where="run_id")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{secrets.token_hex(4)}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"cannot write the run folder {folder} ({exc.strerror or exc}); choose a "
                         "results_dir this user can write to", where="results_dir") from None


def config_yaml(config: RunConfig) -> str:
    """The resolved config as written to the run folder: keys are never in it, and URL
    credentials and any key a value happens to contain are redacted."""
    return redact(OmegaConf.to_yaml(OmegaConf.structured(config)))
