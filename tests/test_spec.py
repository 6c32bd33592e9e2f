"""EnvSpec keys: what changes the key and what does not."""

from __future__ import annotations

import dataclasses
import json

from envlens.spec import KEY_VERSION, EnvSpec


def test_canonical_json_holds_every_field() -> None:
    spec = EnvSpec(backend="uv", requirements=("numpy",))
    payload = json.loads(spec.canonical_json())
    assert set(payload) == {f.name for f in dataclasses.fields(EnvSpec)} | {"v"}
    assert payload["v"] == KEY_VERSION  # a new version names every environment anew


def test_every_field_changes_the_key() -> None:
    base = EnvSpec(backend="uv", requirements=("numpy",))
    variants = [
        dataclasses.replace(base, backend="conda"),
        dataclasses.replace(base, requirements=("numpy>=2",)),
        dataclasses.replace(base, requires_python=">=3.11"),
        dataclasses.replace(base, channels=("conda-forge",)),
        dataclasses.replace(base, conda_packages=("gdal",)),
        dataclasses.replace(base, index_url="https://example.invalid/simple"),
        dataclasses.replace(base, extra_index_urls=("https://example.invalid/extra",)),
        dataclasses.replace(base, lock_hash="0123456789abcdef"),
        dataclasses.replace(base, project_dir="/tmp/p"),
        dataclasses.replace(base, runtime="deno"),
        dataclasses.replace(base, uv_settings='{"exclude-newer":"2020-01-01T00:00:00Z"}'),
        dataclasses.replace(base, uv_settings='{"constraint-dependencies":["six<1.16"]}'),
        dataclasses.replace(base, anchor="/home/me/project"),
    ]
    keys = {v.key for v in variants} | {base.key}
    assert len(keys) == len(variants) + 1
    assert EnvSpec(backend="uv", requirements=("numpy",)).key == base.key
    assert len(base.key) == 16 and int(base.key, 16) >= 0
