"""Plain bounding boxes: the one ``Bounds`` type and the overlap test every layer shares."""

from __future__ import annotations

Bounds = tuple[float, float, float, float]
"""``(xmin, ymin, xmax, ymax)`` in the CRS of whatever it bounds."""


def bounds_overlap(a: Bounds, b: Bounds) -> bool:
    """True when two boxes share some area (touching edges do not count)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
