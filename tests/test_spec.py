"""EnvSpec keys: what changes the key and what does not."""

from __future__ import annotations

import dataclasses
import json

from envlens.spec import EnvSpec


def test_canonical_json_holds_every_field() -> None:
    spec = EnvSpec(backend="uv", requirements=("numpy",))
    assert set(json.loads(spec.canonical_json())) == {f.name for f in dataclasses.fields(EnvSpec)}


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
    ]
    keys = {v.key for v in variants} | {base.key}
    assert len(keys) == len(variants) + 1
    assert EnvSpec(backend="uv", requirements=("numpy",)).key == base.key
    assert len(base.key) == 16 and int(base.key, 16) >= 0
