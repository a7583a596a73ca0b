"""What ``geosiam eval`` shows: the metrics table, recall@k curves, example mosaics, failure map.

Figures are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state, no display
needed) and saved atomically as PNG. The table is Markdown, printed and written to report.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon

from geosiam import atomic
from geosiam.layer_styles import Categorized, Category
from geosiam.ranking import rank_bands

DIRECTION_TITLES = {
    "newer_to_older": "newer year -> older year (reference)",
    "older_to_newer": "older year -> newer year",
}
METRIC_COLUMNS = [
    ("map_at_5", "MAP@5"),
    ("recall_at_1", "R@1"),
    ("recall_at_5", "R@5"),
    ("recall_at_10", "R@10"),
    ("n_queries", "queries"),
]
BAND_COLOURS = ["#1a9641", "#a6d96a", "#fdae61", "#d7191c"]
BAND_LABELS = ["rank 1", "rank 2-5", "rank 6-10", "not in top 10"]
# ranks.gpkg opens in QGIS with the failure map's colours, by its rank_class column
RANK_STYLE = Categorized(
    "rank_class",
    tuple(Category(label, colour) for label, colour in zip(BAND_LABELS, BAND_COLOURS)),
    opacity=0.7,
)
MATCH_RGB = (0, 192, 0)  # frame of the true match in example mosaics
CELL_PX = 96  # small tiles are enlarged (nearest) to about this size in mosaics
FRAME = 4  # pixels of frame around each mosaic cell
CAPTION_PX = 16  # white band above each mosaic row for captions


MODE_TITLES = {
    "fused": "fused: image and map in both years",
    "fused_vs_image_only": "fused vs image-only: the newer year with its map, the older year's images alone",
    "image_only": "image-only: images alone in both years",
}
VERDICT_WORDS = {
    "above": "above",
    "below": "below",
    "indistinguishable": "indistinguishable from",
    "unknown": "not comparable (too few spatial blocks for an interval) with",
}


def metrics_table(directions: dict[str, dict[str, dict]], labels: dict[str, str]) -> str:
    """Markdown tables, one per direction, one row per model (in the order given); a figure
    with an interval is shown as ``value [low, high]``."""
    header = "| model | " + " | ".join(title for _, title in METRIC_COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(METRIC_COLUMNS)
    blocks = []
    for direction, per_model in directions.items():
        rows = [f"**{DIRECTION_TITLES.get(direction, direction)}**", "", header, rule]
        for name, figures in per_model.items():
            cells = [_cell(figures[key], figures.get(f"{key}_ci")) for key, _ in METRIC_COLUMNS]
            rows.append(f"| {labels.get(name, name)} | " + " | ".join(cells) + " |")
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks)


def modes_tables(modes: dict[str, dict], labels: dict[str, str]) -> str:
    """One section per retrieval setting: its tables, then how the run compares with each model."""
    sections = []
    for mode, result in modes.items():
        lines = [f"### {MODE_TITLES.get(mode, mode)}", "", metrics_table(result["directions"], labels), ""]
        lines += comparison_lines(result["differences"], labels)
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def comparison_lines(differences: dict[str, dict[str, dict]], labels: dict[str, str]) -> list[str]:
    """In words, per model: is the run above, below or indistinguishable from it (MAP@5, paired
    95% interval of the difference, reference direction)?"""
    lines = []
    run = labels.get("model", "the run")
    for name, diff in differences.get("newer_to_older", {}).items():
        low, high = diff["map_at_5_ci"]
        interval = f"95% interval {low:+.3f} to {high:+.3f}" if low is not None else "no interval"
        lines.append(
            f"- {run} is **{VERDICT_WORDS[diff['verdict']]}** {labels.get(name, name)}: "
            f"MAP@5 {diff['map_at_5']:+.3f} ({interval})"
        )
    return lines


def _cell(value, interval=None) -> str:
    if isinstance(value, int):
        return str(value)
    if interval and interval[0] is not None:
        return f"{value:.3f} [{interval[0]:.2f}, {interval[1]:.2f}]"
    return f"{value:.3f}"


def rank_classes(ranks: np.ndarray) -> np.ndarray:
    """The failure map's class label of each rank (``rank 1`` ... ``not in top 10``)."""
    return np.asarray(BAND_LABELS)[rank_bands(ranks)]


def pick_examples(ranks: np.ndarray, count: int) -> np.ndarray:
    """Query indices to show: up to half successes (rank 1), the rest failures, worst first."""
    ranks = np.asarray(ranks)
    failures = np.flatnonzero(ranks != 1)
    order = np.argsort(
        np.where(ranks[failures] == 0, np.iinfo(np.int32).max, ranks[failures]), kind="stable"
    )[::-1]
    successes = np.flatnonzero(ranks == 1)
    n_fail = min(len(failures), max(count - min(len(successes), count // 2), 0))
    n_ok = min(len(successes), count - n_fail)
    return np.concatenate([successes[:n_ok], failures[order][:n_fail]]).astype(int)


def colour_masks(masks: np.ndarray, colours: dict[int, tuple[int, int, int]]) -> np.ndarray:
    """(N, H, W) class ids -> (N, H, W, 3) uint8 pictures; unknown ids grey."""
    lut = np.full((256, 3), 128, dtype=np.uint8)
    for class_id, rgb in colours.items():
        lut[class_id] = rgb
    return lut[masks]


def recall_figure(curves: dict[str, dict[str, np.ndarray]], labels: dict[str, str]):
    """recall@k for k = 1..K, one line per model, one panel per direction."""

    fig = Figure(figsize=(6 * len(curves), 4.5), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (direction, per_model) in zip(axes, curves.items()):
        for name, curve in per_model.items():
            ks = np.arange(1, len(curve) + 1)
            ax.plot(ks, curve, marker="o", label=labels.get(name, name))
        ax.set(
            title=DIRECTION_TITLES.get(direction, direction),
            xlabel="k",
            ylabel="recall@k",
            ylim=(0, 1.02),
            xticks=np.arange(1, len(curve) + 1),
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    return fig


def mosaic_cell(px: int) -> tuple[int, int]:
    """(height, width) in pixels of one mosaic cell for tiles of ``px`` pixels: the tile
    enlarged (nearest) and framed, below a white band for its caption."""
    side = px * max(1, CELL_PX // px) + 2 * FRAME
    return side + CAPTION_PX, side


def examples_mosaic(
    queries: np.ndarray,
    query_masks: np.ndarray | None,
    database: np.ndarray,
    neighbours: np.ndarray,
    ranks: np.ndarray,
    picks: np.ndarray,
    colours: dict[int, tuple[int, int, int]],
    shown: int = 5,
) -> np.ndarray:
    """One row per picked query: the query (and its coloured mask), its top ``shown`` answers
    from the database, and its true match when it is not among them; the true match is framed.

    Query ``i``'s true match is database row ``i`` (pairs aligned, as in evaluation). Returns an
    RGB uint8 picture of :func:`mosaic_cell` cells.
    """
    px = queries.shape[1]
    zoom = max(1, CELL_PX // px)
    height, width = mosaic_cell(px)
    lead = 1 if query_masks is None else 2
    columns = lead + shown + 1
    canvas = np.full((len(picks) * height, columns * width, 3), 255, dtype=np.uint8)
    for row, q in enumerate(picks):
        found = 1 <= ranks[q] <= shown
        tiles = [queries[q]] + (
            [] if query_masks is None else [colour_masks(query_masks[q : q + 1], colours)[0]]
        )
        tiles += [database[j] for j in neighbours[q, :shown]]
        tiles.append(None if found else database[q])
        for col, tile in enumerate(tiles):
            if tile is None:
                continue
            top, left = row * height + CAPTION_PX, col * width
            if (found and col == lead + ranks[q] - 1) or col == columns - 1:
                canvas[top : top + width, left : left + width] = MATCH_RGB
            big = np.repeat(np.repeat(tile, zoom, axis=0), zoom, axis=1)
            canvas[top + FRAME : top + width - FRAME, left + FRAME : left + width - FRAME] = big
    return canvas


def examples_figure(
    queries: np.ndarray,
    query_masks: np.ndarray | None,
    database: np.ndarray,
    neighbours: np.ndarray,
    scores: np.ndarray,
    ranks: np.ndarray,
    picks: np.ndarray,
    titles: list[str],
    colours: dict[int, tuple[int, int, int]],
    shown: int = 5,
):
    """The example mosaic (:func:`examples_mosaic`) with its captions (at most as many answers as
    the database has)."""

    shown = min(shown, neighbours.shape[1])
    canvas = examples_mosaic(queries, query_masks, database, neighbours, ranks, picks, colours, shown)
    height, width = mosaic_cell(queries.shape[1])
    fig = Figure(figsize=(canvas.shape[1] / 80, canvas.shape[0] / 80), layout="constrained")
    ax = fig.subplots()
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    for r, q in enumerate(picks):
        captions = [titles[q]] + ([] if query_masks is None else ["its mask"])
        captions += [f"#{j + 1}  {scores[q, j]:.2f}" for j in range(shown)]
        if not 1 <= ranks[q] <= shown:
            captions.append(f"true match: rank {ranks[q] or '>' + str(neighbours.shape[1])}")
        for c, caption in enumerate(captions):
            ax.text(
                (c + 0.5) * width,
                r * height + CAPTION_PX - 3,
                caption,
                ha="center",
                va="bottom",
                fontsize=6,
                color="#d7191c" if caption.startswith("true") else "black",
            )
    return fig


def failure_map_figure(footprints, ranks: np.ndarray, title: str):
    """Query footprints coloured by the rank of their true match (GeoSeries of polygons)."""

    xmin, ymin, xmax, ymax = footprints.total_bounds
    aspect = np.clip((ymax - ymin) / max(xmax - xmin, 1e-9), 0.25, 2.0)
    fig = Figure(figsize=(9, 2 + 6 * aspect), layout="constrained")
    ax = fig.subplots()
    bands = rank_bands(ranks)
    for geometry, band in zip(footprints, bands):
        for part in getattr(geometry, "geoms", [geometry]):
            ax.add_patch(
                Polygon(
                    np.asarray(part.exterior.coords), closed=True, fc=BAND_COLOURS[band], ec="#404040", lw=0.3
                )
            )
    pad = 0.02 * max(xmax - xmin, ymax - ymin, 1.0)
    ax.set(xlim=(xmin - pad, xmax + pad), ylim=(ymin - pad, ymax + pad), aspect="equal", title=title)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    counts = np.bincount(bands, minlength=len(BAND_LABELS))
    ax.legend(
        handles=[
            Patch(fc=c, label=f"{label} ({n})") for c, label, n in zip(BAND_COLOURS, BAND_LABELS, counts)
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize="small",
    )
    return fig


def save_figure(fig, path: Path) -> None:
    """Write a figure as PNG, atomically."""
    with atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def _model_line(entry: dict) -> str:
    recipe = entry.get("recipe")
    if not recipe:
        return entry["description"]
    return f"{entry['description']}; recipe: " + ", ".join(f"{k} {v}" for k, v in recipe.items())


def report_markdown(metrics: dict, table: str, labels: dict[str, str], figures: dict[str, str]) -> str:
    """report.md: what was evaluated, the tables, what was skipped, the figures."""
    years = metrics["years"]
    lines = [
        f"# geosiam evaluation: run {metrics['run']}",
        "",
        f"Split **{metrics['split']}**: {metrics['n_pairs']} places seen in {years['older']} and "
        f"{years['newer']}. Each query is a tile of one year; the database holds the other year's "
        "tiles of the split; exactly one of them is the query's own place. Exact kNN (FAISS, "
        "cosine). MAP@5 is the mean of 1/rank of the true match within the top 5 (= MRR@5).",
        "",
        f"Labels: **{metrics['labels']}**. Figures in brackets are 95% intervals from "
        f"{metrics['bootstrap']['resamples']} bootstrap resamples of the split's "
        f"{metrics['n_blocks']} spatial blocks; each comparison with the run is paired (same "
        "places), and 'indistinguishable' means that its interval holds 0.",
        "",
        "Models:",
        "",
        *[f"- **{labels[name]}**: {_model_line(entry)}" for name, entry in metrics["models"].items()],
        "",
        table,
        "",
    ]
    if metrics.get("skipped"):
        lines += ["Not evaluated:", ""]
        lines += [f"- {labels.get(n, n)}: {why}" for n, why in metrics["skipped"].items()]
        lines.append("")
    lines += [f"## {caption}\n\n![{caption}]({name})\n" for name, caption in figures.items()]
    return "\n".join(lines)
