"""EnvSpec: the normalised declaration an environment is built from, and its key.

Identical declarations give equal specs and so share one environment; any change to what would be
installed (a requirement, requires-python, channels, any [tool.uv] setting, the lock) changes the key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Literal

Backend = Literal["uv", "conda", "project", "deno"]
Runtime = Literal["python", "deno"]

KEY_LENGTH = 16
# Part of every key's payload: a change to what a key covers gives every declaration a new key, so an
# environment built under older rules is never taken for one built under these.
KEY_VERSION = 2


@dataclass(frozen=True)
class EnvSpec:
    backend: Backend
    requirements: tuple[str, ...] = ()
    requires_python: str | None = None
    channels: tuple[str, ...] = ()
    conda_packages: tuple[str, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    lock_hash: str | None = None
    # For the project backend: the project folder (its own .venv is the environment).
    project_dir: str | None = None
    runtime: Runtime = "python"
    # The declaration's [tool.uv] table as canonical JSON (exclude-newer, sources, indexes,
    # constraints, ...): all of it changes what uv installs, so all of it is in the key.
    uv_settings: str | None = None
    # The folder relative paths in those settings resolve against (only when there are some).
    anchor: str | None = None

    def canonical_json(self) -> str:
        # Built by hand: dataclasses.asdict deep-copies and costs more than the hash itself.
        data = {
            "v": KEY_VERSION,
            "anchor": self.anchor,
            "uv_settings": self.uv_settings,
            "backend": self.backend,
            "channels": list(self.channels),
            "conda_packages": list(self.conda_packages),
            "extra_index_urls": list(self.extra_index_urls),
            "index_url": self.index_url,
            "lock_hash": self.lock_hash,
            "project_dir": self.project_dir,
            "requirements": list(self.requirements),
            "requires_python": self.requires_python,
            "runtime": self.runtime,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @functools.cached_property
    def key(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:KEY_LENGTH]
