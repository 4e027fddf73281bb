"""The annual report's bar chart (R3), laid out here and drawn as inline SVG by annual.html.

Horizontal bars, one group per Act and organ; every bar carries its label and its number as text, so the
colours only repeat what the words say. Organs with nothing to show are named, not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH = 760
LABEL_WIDTH = 200  # the bar labels, right-aligned before the bars
VALUE_SPACE = 60  # room for the number after the longest bar
ROW, GROUP_HEAD, GAP = 22, 30, 14
SERIES = (  # (figure group, figure, label, css class)
    ("designations", "made", "Designations made", "made"),
    ("designations", "in_force_at_year_end", "In force at year-end", "in-force"),
    ("designations", "cancelled", "Cancelled", "cancelled"),
    ("designations", "expired", "Expired", "expired"),
    ("assessments", "favourable", "Assessments favourable", "favourable"),
    ("assessments", "unfavourable", "Assessments unfavourable", "unfavourable"),
)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    css: str
    y: int
    width: float


@dataclass(frozen=True, slots=True)
class Group:
    organ_id: str
    name: str
    y: int
    bars: list[Bar]


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    label_width: int
    row: int
    groups: list[Group]
    left_out: list[str]


def annual_chart(report: dict[str, Any]) -> Chart:
    """One group per Act and organ (R3: the Acts' figures are drawn apart, never added together)."""
    figures = [
        ({**o, "organ_id": f"{scheme.upper()} · {o['organ_id']}"}, [o[group][key] for group, key, _, _ in SERIES])
        for scheme, act in report["acts"].items()
        for o in act["organs"]
    ]
    drawn = [(o, values) for o, values in figures if any(values)]
    largest = max((max(values) for _, values in drawn), default=0)
    scale = (WIDTH - LABEL_WIDTH - VALUE_SPACE) / largest if largest else 0.0
    groups, y = [], 0
    for organ, values in drawn:
        top = y + GROUP_HEAD
        bars = [
            Bar(label, value, css, top + i * ROW, value * scale)
            for i, ((_, _, label, css), value) in enumerate(zip(SERIES, values, strict=True))
        ]
        groups.append(Group(organ["organ_id"], organ["name"], y, bars))
        y = top + len(SERIES) * ROW + GAP
    left_out = [o["organ_id"] for o, values in figures if not any(values)]
    return Chart(WIDTH, max(y, ROW), LABEL_WIDTH, ROW, groups, left_out)
