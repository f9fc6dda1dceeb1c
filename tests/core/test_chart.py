"""The server-rendered SVG chart (pure)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from analyticsd.core.chart import BOTTOM, TOP, H, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_points_scale_to_the_plot_and_labels_are_escaped() -> None:
    svg = line_chart("Visitors <script>", ["<a>", "b", "c"], [0, 50, 100], [10, 10, 10])
    root = ET.fromstring(svg)  # well-formed XML
    assert root.find(f"{SVG}title").text == "Visitors <script>"  # type: ignore[union-attr]
    assert "<script>" not in svg
    series = root.find(f"{SVG}path[@class='series']")
    assert series is not None
    ys = [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", series.get("d", ""))]
    assert ys[0] == H - BOTTOM  # 0 at the bottom
    assert ys[2] == TOP  # the maximum (100, a round number) at the top
    assert root.find(f"{SVG}path[@class='compare']") is not None
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "<a>" in labels
    assert "c" in labels


def test_an_empty_series_still_draws_the_axes() -> None:
    root = ET.fromstring(line_chart("Visits", [], []))
    assert root.find(f"{SVG}path[@class='series']") is None
    assert len(root.findall(f"{SVG}line")) == 3


def test_point_markers_carry_their_label_and_value() -> None:
    root = ET.fromstring(line_chart("Visits", ["d1", "d2"], [3, 5], shown=["3", "5 <b>"]))
    titles = [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]  # type: ignore[union-attr]
    assert titles == ["d1: 3", "d2: 5 <b>"]
    assert ET.fromstring(line_chart("Visits", ["d1"], [3])).find(f"{SVG}circle") is None
