"""Small pure drawing helpers of the sample's landscape: smooth lines, rows of rectangles, blobs,
coarse noise, and picking shapes that do not overlap."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


def chaikin(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Corner-cut a polyline ``rounds`` times: smooth curves through rough control points."""
    for _ in range(rounds):
        a, b = points[:-1], points[1:]
        inner = np.empty((2 * len(a), 2))
        inner[0::2] = 0.75 * a + 0.25 * b
        inner[1::2] = 0.25 * a + 0.75 * b
        points = np.vstack([points[:1], inner, points[-1:]])
    return points


def wiggly_line(
    rng: np.random.Generator, start: Sequence[float], end: Sequence[float], wobble: float
) -> shapely.LineString:
    """A smooth road-like line from ``start`` to ``end``, bent sideways by up to ``wobble``."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    length = float(np.hypot(*(end - start)))
    n = max(2, int(length / 300) + 2)
    t = np.linspace(0, 1, n)[:, None]
    normal = np.array([-(end - start)[1], (end - start)[0]]) / max(length, 1e-9)
    offsets = rng.normal(0, wobble * length, n)
    offsets[0] = offsets[-1] = 0
    points = start + t * (end - start) + offsets[:, None] * normal
    return shapely.LineString(chaikin(points))


def rectangles(
    centres: np.ndarray, angles: np.ndarray, lengths: np.ndarray, widths: np.ndarray
) -> np.ndarray:
    """Rotated rectangles (shapely polygons): ``lengths`` along ``angles``, ``widths`` across."""
    u = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    v = np.stack([-u[:, 1], u[:, 0]], axis=1)
    hl, hw = (lengths / 2)[:, None], (widths / 2)[:, None]
    corners = np.stack(
        [
            centres - u * hl - v * hw,
            centres + u * hl - v * hw,
            centres + u * hl + v * hw,
            centres - u * hl + v * hw,
            centres - u * hl - v * hw,
        ],
        axis=1,
    )
    return shapely.polygons(corners)


def blob(
    rng: np.random.Generator, x: float, y: float, radius: float, roughness: float = 0.25
) -> shapely.Polygon:
    """An irregular rounded polygon (pond, clearing) of about ``radius`` metres."""
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    harmonics = sum(
        rng.normal(0, roughness / k) * np.cos(k * angles + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3)
    )
    r = radius * np.clip(1 + harmonics, 0.4, 1.8)
    ring = np.stack([x + r * np.cos(angles), y + r * np.sin(angles)], axis=1)
    return shapely.Polygon(chaikin(np.vstack([ring, ring[:1]]), 2))


def coarse_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> np.ndarray:
    """Smooth random field of ``shape`` with features about ``cells`` pixels across, std 1."""
    from scipy import ndimage  # lazy: scipy is heavy; only drawing needs it

    field_ = ndimage.gaussian_filter(rng.normal(size=shape), cells / 2.5, mode="wrap")
    return (field_ - field_.mean()) / (field_.std() + 1e-9)


def keep_disjoint(candidates: Sequence[BaseGeometry], obstacles: Sequence[BaseGeometry] = ()) -> list[int]:
    """Indices of candidates kept greedily in order: none touches an earlier kept one or an obstacle."""
    geoms = np.asarray(candidates, dtype=object)
    if not len(geoms):
        return []
    blocked = np.zeros(len(geoms), bool)
    if len(obstacles):
        hits = shapely.STRtree(np.asarray(obstacles, dtype=object)).query(geoms, predicate="intersects")
        blocked[hits[0]] = True
    pairs = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    others: dict[int, list[int]] = {}
    for i, j in zip(*pairs):
        if i != j:
            others.setdefault(int(i), []).append(int(j))
    kept: list[int] = []
    taken = np.zeros(len(geoms), bool)
    for i in range(len(geoms)):
        if blocked[i] or any(taken[j] for j in others.get(i, ())):
            continue
        taken[i] = True
        kept.append(i)
    return kept
