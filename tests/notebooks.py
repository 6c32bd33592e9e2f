"""Notebook JSON the tests write: code cells as nbformat 4.5 has them (ids c0, c1, ...)."""

from __future__ import annotations

from typing import Any


def code_cells(sources: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{i}",
            "metadata": {},
            "outputs": [],
            "source": src,
        }
        for i, src in enumerate(sources)
    ]
