"""Which distribution names exist: the ones envlens knows well, and every name on PyPI.

Two lists, both made by scripts/gen_import_names.py (docs/imports.md):
- `known_distributions()`: the most downloaded distributions and every distribution of the import
  table (about 35,000 names). A name in it is never a suspected typo.
- `on_pypi(name)`: every distribution name on PyPI when the list was made (about 890,000), kept as
  a Bloom filter (1 MB): "no" is certain, "yes" is wrong for about 1 name in 100 that is not there.
  A private package, or one published since, reads as not on PyPI: that asks, it does not block.
"""

from __future__ import annotations

import hashlib
import struct
from functools import cache
from pathlib import Path

from packaging.utils import canonicalize_name

DATA = Path(__file__).parent / "data"
KNOWN_PATH = DATA / "known_distributions.txt"
BLOOM_PATH = DATA / "pypi_names.bloom"
_MAGIC = b"ELBF1"


@cache
def known_distributions() -> frozenset[str]:
    """Canonical names of the distributions envlens knows (data/known_distributions.txt)."""
    text = KNOWN_PATH.read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


@cache
def _ranks() -> dict[str, int]:
    """Download rank of the distributions known_distributions.txt lists in download order."""
    text = KNOWN_PATH.read_text(encoding="utf-8")
    ranked = 0
    for line in text.splitlines()[:5]:
        if line.startswith("# ranked:"):
            ranked = int(line.split(":", 1)[1].split()[0])
    names = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return {n: i for i, n in enumerate(names[:ranked], start=1)}


def download_rank(name: str) -> int | None:
    """1 for the most downloaded distribution; None for one outside the ranked list."""
    return _ranks().get(canonicalize_name(name))


@cache
def _bloom() -> tuple[int, int, bytes]:
    data = BLOOM_PATH.read_bytes()
    if not data.startswith(_MAGIC):
        raise ValueError(f"{BLOOM_PATH} is not an envlens name list")
    k, m = struct.unpack_from("<IQ", data, len(_MAGIC))
    return k, m, data[len(_MAGIC) + 12 :]


def on_pypi(name: str) -> bool:
    """Whether a distribution of this name was on PyPI (see the module's note on certainty)."""
    canon = canonicalize_name(name)
    if canon in known_distributions():
        return True
    k, m, bits = _bloom()
    h1, h2 = struct.unpack("<QQ", hashlib.blake2b(canon.encode(), digest_size=16).digest())
    for i in range(k):
        b = (h1 + i * h2) % m
        if not bits[b >> 3] & (1 << (b & 7)):
            return False
    return True
