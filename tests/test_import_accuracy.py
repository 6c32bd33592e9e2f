"""The import -> distribution figure, measured on held-out real imports (docs/imports.md).

tests/data/heldout_imports.tsv lists imports seen in the corpus notebooks and in public code, with
the distribution that really provides each (or "-" when none on PyPI does: the lookup must then say
it does not know rather than guess). None of them was taken from the sources the table is built from.
"""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name

from envlens.imports import lookup

HELDOUT = Path(__file__).parent / "data" / "heldout_imports.tsv"
FRESH = Path(__file__).parent / "data" / "heldout_imports_fresh.tsv"
BROAD = Path(__file__).parent / "data" / "heldout_imports_broad.tsv"
GOAL = 0.95
BROAD_MEASURED = 287 / 324  # the broad set's one honest measurement (docs/imports.md)


def _rows(path: Path = HELDOUT) -> list[tuple[str, set[str]]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        module, expected, _where = line.split("\t")
        rows.append(
            (module, {canonicalize_name(e) if e != "-" else "-" for e in expected.split("|")})
        )
    return rows


def _right(module: str, expected: set[str]) -> tuple[bool, str]:
    p = lookup(module)
    got = p.distribution if p.distribution is not None else "-"
    if got == "-" and p.candidates:
        got = f"- (candidates: {', '.join(p.candidates)})"
    ok = (p.distribution is None and "-" in expected) or (
        p.distribution is not None and canonicalize_name(p.distribution) in expected
    )
    return ok, got


def test_import_map_is_right_on_held_out_real_imports() -> None:
    rows = _rows()
    assert len(rows) >= 150, "a broad set"
    misses = []
    for module, expected in rows:
        ok, got = _right(module, expected)
        if not ok:
            misses.append(f"{module}: got {got}, expected {' or '.join(sorted(expected))}")
    # The naive rule this replaces' floor: the import name itself is the distribution.
    naive = sum(canonicalize_name(m.split(".")[0]) in e for m, e in rows)
    share = 1 - len(misses) / len(rows)
    print(
        f"\nimport -> distribution: {len(rows) - len(misses)}/{len(rows)} right ({share:.1%}); "
        f"the import name alone: {naive}/{len(rows)} ({naive / len(rows):.1%})"
    )
    for m in misses:
        print("  miss: " + m)
    assert share >= GOAL, misses


def test_import_map_on_a_second_set_nothing_was_tuned_on() -> None:
    """Collected after the table was frozen: the figure to expect on imports envlens never saw."""
    rows = _rows(FRESH)
    misses = [m for m, e in rows if not _right(m, e)[0]]
    share = 1 - len(misses) / len(rows)
    print(f"\nsecond set: {len(rows) - len(misses)}/{len(rows)} right ({share:.1%})")
    for m in misses:
        print(f"  miss: {m}: got {_right(m, dict(rows)[m])[1]}")
    assert share >= GOAL, misses


def test_import_map_on_a_broad_set_collected_after_freezing() -> None:
    """The honest figure: 324 imports from four broad public repositories, labelled from each
    project's own requirements, collected after the lookup and table were frozen, measured once:
    287/324 (88.6%), short of the 95% goal (docs/imports.md says why). The floor is that measured
    figure, so nothing may make it worse; raising it to GOAL needs a new set nothing was tuned on."""
    rows = _rows(BROAD)
    assert len(rows) >= 300, "a broad set"
    results = [(m, e, *_right(m, e)) for m, e in rows]
    misses = [
        f"{m}: got {got}, expected {' or '.join(sorted(e))}" for m, e, ok, got in results if not ok
    ]
    share = 1 - len(misses) / len(rows)
    print(f"\nbroad set: {len(rows) - len(misses)}/{len(rows)} right ({share:.1%})")
    for m in misses:
        print("  miss: " + m)
    assert share >= BROAD_MEASURED, misses
