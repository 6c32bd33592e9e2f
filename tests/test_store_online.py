"""Offline first, online only when uv's cache lacks something (real PyPI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from envlens.environment import ensure_environment
from envlens.resolve import resolve

pytestmark = [pytest.mark.pypi, pytest.mark.slow]


def test_offline_first_then_online(
    isolated_cache: Path, tmp_path: Path, write_script, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty uv cache: the offline attempt must miss, and the online one fill the cache.
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    first_lines: list[str] = []
    first = ensure_environment(
        resolve(write_script(tmp_path / "a.py", ["six"])), progress=first_lines.append
    )
    assert not first.reused
    assert "Some packages are not in uv's cache yet; downloading them" in first_lines

    # Another environment with the same packages: everything is cached now, so no network.
    second_lines: list[str] = []
    second = ensure_environment(
        resolve(write_script(tmp_path / "b.py", ["six"], requires_python=">=3.10")),
        progress=second_lines.append,
    )
    assert second.key != first.key and not second.reused
    assert not any("downloading" in line for line in second_lines)
