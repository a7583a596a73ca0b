"""How hard is the built-in sample area? Raw-pixel retrieval baselines on its tile pairs.

Generates the sample (timed, into a fresh folder unless ``--root`` is given), reads every tile of
the sample grid straight from the JPEG2000 dalles (tiling's own mosaic over the whole area at the
tile resolution, so tiles crossing dalle borders are mosaicked, and grey dalles read as grey) and
burns each year's BD TOPO edition into class masks (rasterisation's own loader and burner, the
built-in class table of the edition's data model, 2.x or v3). Then, queries the newer year and
database the older one, it prints MAP@5 and recall@1/5 of the raw-pixel baselines geosiam eval
reports (RGB thumbnails, mask class shares, both) on all tiles and on random test-sized subsets
(mean and spread over several draws); how much the two editions agree, over the pixels either
labels (background left out); and how many places changed, from the sample's ground truth. The
sample is meant to be hard for these (RGB MAP@5 <= 0.3 on the test split, masks clearly below 1)
yet learnable.

    .venv/bin/python benchmarks/sample_difficulty.py [--years 2000 2015] [--sample-seed 0] [--subset 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import print_table
from geosiam.config import SampleSettings
from geosiam.ranking import knn, map_at_k, match_ranks, recall_at_k
from geosiam.rasterize.classes import load_classes
from geosiam.rasterize.masks import burn
from geosiam.rasterize.vectors import load_burnables
from geosiam.retrieval.baselines import mask_descriptors, rgb_descriptors, rgb_mask_descriptors
from geosiam.sources.ground_truth import read_changes
from geosiam.sources.sample import generate, sample_grid, sample_layout
from geosiam.tiling.cut import mosaic
from geosiam.tiling.grid import Grid
from geosiam.tiling.pairs import changed_fraction
from geosiam.tiling.rasters import inspect_all


def area_canvas(
    grid: Grid, area: tuple[float, float, float, float]
) -> tuple[tuple[float, float, float, float], tuple[int, int], list[tuple[int, int]]]:
    """The grid cells fully inside the sample, and the canvas (bounds, shape) that covers them."""
    xmin, ymin, xmax, ymax = area
    cells = [
        (c, r)
        for c, r in grid.cells(area)
        if grid.bounds(c, r)[0] >= xmin
        and grid.bounds(c, r)[1] >= ymin
        and grid.bounds(c, r)[2] <= xmax
        and grid.bounds(c, r)[3] <= ymax
    ]
    cols = [c for c, _ in cells]
    rows = [r for _, r in cells]
    left, bottom = grid.bounds(min(cols), min(rows))[:2]
    right, top = grid.bounds(max(cols), max(rows))[2:]
    shape = ((max(rows) - min(rows) + 1) * grid.tile_px, (max(cols) - min(cols) + 1) * grid.tile_px)
    return (left, bottom, right, top), shape, cells


def tiles_of_year(record, grid: Grid, area) -> tuple[np.ndarray, np.ndarray]:
    """(N, px, px, 3) RGB tiles and (N, px, px) masks of every full grid cell, row-major."""
    from rasterio.transform import from_origin

    bounds, shape, cells = area_canvas(grid, area)
    transform = from_origin(bounds[0], bounds[3], grid.resolution, grid.resolution)
    infos, bad = inspect_all([record], grid.crs)
    if bad:
        raise SystemExit(f"unreadable dalles: {bad}")
    rgb, owner = mosaic(infos, transform, shape, grid.crs)
    if (owner < 0).any():
        raise SystemExit(f"{int((owner < 0).sum())} pixels of {record.year} have no imagery")
    shapes = load_burnables(record.vectors, load_classes(None, record.label_version), grid.crs, bounds)
    classes = burn(shapes, transform, shape)
    px = grid.tile_px
    top_row = max(r for _, r in cells)
    first_col = min(c for c, _ in cells)
    images, masks = [], []
    for col, row in cells:
        i, j = (top_row - row) * px, (col - first_col) * px
        images.append(np.moveaxis(rgb[:, i : i + px, j : j + px], 0, -1))
        masks.append(classes[i : i + px, j : j + px])
    return np.stack(images), np.stack(masks)


def scores(queries: np.ndarray, database: np.ndarray) -> tuple[float, float, float]:
    """MAP@5, recall@1 and recall@5 of query i whose match is database i."""
    _, neighbours = knn(queries, database, 10)
    ranks = match_ranks(neighbours, np.arange(len(queries)))
    return map_at_k(ranks, 5), recall_at_k(ranks, 1), recall_at_k(ranks, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, nargs=2, default=[2000, 2015])
    parser.add_argument("--sample-seed", type=int, default=SampleSettings.seed)
    parser.add_argument("--sample-km", type=int, default=SampleSettings.km)
    parser.add_argument("--panchromatic-before", type=int, default=SampleSettings.panchromatic_before)
    parser.add_argument("--subset", type=int, default=100, help="tiles per test-sized subset")
    parser.add_argument("--draws", type=int, default=20, help="random subsets averaged")
    parser.add_argument(
        "--root", type=Path, help="sample folder to (re)use; a fresh temporary one by default"
    )
    args = parser.parse_args()
    older, newer = sorted(args.years)

    with tempfile.TemporaryDirectory(prefix="geosiam-sample-") as tmp:
        root = args.root or Path(tmp)
        reused = any(root.glob("sample-*.complete.json"))
        started = time.perf_counter()
        sample = SampleSettings(args.sample_km, args.sample_seed, args.panchromatic_before)
        records = {r.year: r for r in generate(root, [older, newer], sample)}
        generated = time.perf_counter() - started
        layout = sample_layout(sample)
        grid = Grid(**sample_grid(layout))
        table = load_classes(None)  # every built-in table has the same class ids and names
        data = {year: tiles_of_year(records[year], grid, layout.bounds) for year in (older, newer)}
        changes = read_changes(list(records.values()), grid.crs)
        changed = changed_fraction(footprints(grid, layout.bounds, older, newer), changes)

    n = len(data[older][0])
    classes = table.num_classes
    descriptors = {
        "rgb": lambda year: rgb_descriptors(data[year][0]),
        "mask": lambda year: mask_descriptors(data[year][1], classes),
        "rgb+mask": lambda year: rgb_mask_descriptors(data[year][0], data[year][1], classes),
    }
    rng = np.random.default_rng(0)
    subsets = [np.sort(rng.choice(n, size=min(args.subset, n), replace=False)) for _ in range(args.draws)]
    rows = []
    for name, describe in descriptors.items():
        db, q = describe(older), describe(newer)
        whole = scores(q, db)
        drawn = np.array([scores(q[s], db[s]) for s in subsets])
        rows.append(
            (
                name,
                whole[0],
                whole[1],
                float(drawn[:, 0].mean()),
                float(drawn[:, 0].std()),
                float(drawn[:, 1].mean()),
                float(drawn[:, 2].mean()),
            )
        )
    print(
        f"sample seed {args.sample_seed}, {args.sample_km} km, years {older} -> {newer} "
        f"(editions {records[older].label_date} v{records[older].label_version}, "
        f"{records[newer].label_date} v{records[newer].label_version}): {n} tile pairs of "
        f"{grid.tile_px} px ({grid.tile_size_m:g} m); generated in {generated:.1f} s"
        + (" (partly reused)" if reused else "")
    )
    print_table(
        f"raw-pixel retrieval, queries {newer} vs database {older}",
        rows,
        (
            "descriptor",
            f"MAP@5 all {n}",
            f"R@1 all {n}",
            f"MAP@5 {args.subset}",
            "+/-",
            f"R@1 {args.subset}",
            f"R@5 {args.subset}",
        ),
    )
    shares = {
        year: np.bincount(data[year][1].ravel(), minlength=classes) / data[year][1].size
        for year in (older, newer)
    }
    old_masks, new_masks = data[older][1], data[newer][1]
    labelled = (old_masks > 0) | (new_masks > 0)
    same = float((old_masks == new_masks)[labelled].mean())
    print_table(
        "class shares of the masks (BD TOPO editions)",
        [(c.name, float(shares[older][c.id]), float(shares[newer][c.id])) for c in table.classes],
        ("class", str(older), str(newer)),
    )
    print(
        f"\nclass agreement of the two editions over the pixels either labels ({labelled.mean():.3f} "
        f"of all): {same:.3f}"
    )
    print(
        f"ground truth, {older} -> {newer}: mean changed fraction {changed.mean():.3f}; places with "
        f"more than 5% changed {(changed > 0.05).mean():.3f}, more than 25% {(changed > 0.25).mean():.3f}"
    )


def footprints(grid: Grid, area, year_a: int, year_b: int):
    """The full tiles' footprints (row-major as :func:`tiles_of_year`) as pairs of two years."""
    import geopandas as gpd
    import shapely

    _, _, cells = area_canvas(grid, area)
    return gpd.GeoDataFrame(
        {"year_a": [year_a] * len(cells), "year_b": [year_b] * len(cells)},
        geometry=[shapely.box(*grid.bounds(c, r)) for c, r in cells],
        crs=grid.crs,
    )


if __name__ == "__main__":
    main()
