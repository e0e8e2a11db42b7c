"""Rounds into figures: the median of each side, the median of the per-round ratios, a table and JSON.

A ratio is the project's number over the raw limit measured in the same round, so a slow round of the machine
slows both sides and the ratio stays honest. For latencies and sizes a ratio above 1 means slower or bigger.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table


@dataclass
class Figure:
    name: str
    unit: str
    target: str
    raw_name: str | None = None  # None: a figure with no raw limit to compare with (freshness, memory)
    project: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)

    def add(self, project: float, raw: float | None = None) -> None:
        self.project.append(project)
        if raw is not None:
            self.raw.append(raw)

    @property
    def ratio(self) -> float | None:
        if self.raw_name is None or not self.raw:
            return None
        return statistics.median(p / r for p, r in zip(self.project, self.raw, strict=True))

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "project": _median(self.project),
            "raw_limit": _median(self.raw),
            "raw_limit_is": self.raw_name,
            "ratio": self.ratio,
            "target": self.target,
            "rounds": {"project": self.project, "raw_limit": self.raw},
        }


def percentile(samples: Sequence[float], pct: int) -> float:
    """The pct-th percentile (inclusive method, so a small sample never extrapolates past its maximum)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def table(figures: Sequence[Figure], title: str) -> Table:
    grid = Table(title=title, title_justify="left")
    for heading in ("figure", "project", "raw limit (same run)", "ratio", "target"):
        grid.add_column(heading, justify="right" if heading in ("project", "ratio") else "left")
    for figure in figures:
        grid.add_row(
            f"{figure.name} ({figure.unit})",
            _number(_median(figure.project)),
            f"{_number(_median(figure.raw))} {figure.raw_name}" if figure.raw else "-",
            f"{figure.ratio:.2f}" if figure.ratio is not None else "-",
            figure.target,
        )
    return grid


def write_json(path: Path, figures: Sequence[Figure], run: dict[str, Any]) -> None:
    path.write_text(json.dumps({"run": run, "figures": [f.as_json() for f in figures]}, indent=2) + "\n")


def _median(samples: Sequence[float]) -> float | None:
    """None where nothing was measured (peak memory off Linux)."""
    return statistics.median(samples) if samples else None


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
