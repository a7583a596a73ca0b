"""``report.html``: the evaluation as one self-contained page that works offline.

Everything the page needs is inside it: the style and script (``geosiam/data/report.css`` and
``report.js``, inlined), the figures as PNG data URIs, and the places as JSON with their
thumbnails as JPEG/PNG data URIs. It makes no request of any kind, so it opens from a USB stick
or an e-mail attachment as well as from the run folder.

It holds the metrics tables (with their confidence intervals where eval computed them), the
training curves, an interactive map of the evaluated places coloured by the rank of their true
match (the failure map's colours) or by how far their two years' descriptors moved, over the
tiles' own imagery when zoomed in (plain Lambert-93 metres, no tile server), the details of a
place on click (query tile, its mask, its top 5 with scores, the true match marked), the
recall@k chart and, where eval measured change detection, its table and change map.
"""

from __future__ import annotations

import base64
import html
import io
import json
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from geosiam import atomic
from geosiam.model.curves import curves_figure, read_curves
from geosiam.retrieval.report import (
    BAND_COLOURS,
    BAND_LABELS,
    DIRECTION_TITLES,
    METRIC_COLUMNS,
    MODE_TITLES,
    colour_masks,
    comparison_lines,
)

REPORT_HTML = "report.html"
THUMB_PX = 96  # thumbnails are at most this size: about 3 kB each as JPEG
JPEG_QUALITY = 80
SHOWN = 5  # answers shown per place


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail(picture: np.ndarray, nearest: bool = False) -> str:
    """An (H, W, 3) uint8 picture as a small data URI: JPEG for imagery, PNG (nearest, exact
    colours) for masks."""

    image = Image.fromarray(picture)
    if max(image.size) > THUMB_PX:
        resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BOX
        image = image.resize((THUMB_PX, THUMB_PX), resample)
    buffer = io.BytesIO()
    if nearest:
        image.save(buffer, format="PNG", optimize=True)
        return data_uri(buffer.getvalue(), "image/png")
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return data_uri(buffer.getvalue(), "image/jpeg")


def png_uri(path: Path) -> str | None:
    """A PNG file as a data URI; None when it does not exist."""
    path = Path(path)
    return data_uri(path.read_bytes(), "image/png") if path.is_file() else None


def figure_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png")
    return data_uri(buffer.getvalue(), "image/png")


def _value(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return "–" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _cell(value) -> str:
    if value is None:
        return "–"
    return _value(value) if isinstance(value, (int, float)) else html.escape(str(value))


def _interval(figures: dict, key: str) -> str:
    ci = figures.get(f"{key}_ci")
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or None in ci or not np.all(np.isfinite(ci)):
        return ""  # no interval (too few spatial blocks), or none computed
    return f' <span class="ci">[{ci[0]:.3f}, {ci[1]:.3f}]</span>'


def metrics_tables(directions: dict[str, dict[str, dict]], labels: dict[str, str]) -> str:
    """One HTML table per direction, one row per model; 95 % intervals beside the figures."""
    blocks = []
    for direction, per_model in directions.items():
        head = "".join(f"<th>{html.escape(title)}</th>" for _, title in METRIC_COLUMNS)
        rows = []
        for name, figures in per_model.items():
            cells = "".join(
                f"<td>{_value(figures.get(key))}{_interval(figures, key)}</td>" for key, _ in METRIC_COLUMNS
            )
            label = html.escape(labels.get(name, name))
            rows.append(f'<tr class="model-{html.escape(name)}"><th>{label}</th>{cells}</tr>')
        blocks.append(
            f"<table><caption>{html.escape(DIRECTION_TITLES.get(direction, direction))}</caption>"
            f"<thead><tr><th>model</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    return "\n".join(blocks)


def modes_html(metrics: dict, labels: dict[str, str]) -> str:
    """The tables of every retrieval setting eval measured (one setting: its tables), each
    followed by how the run compares with the other models, in words."""
    modes = metrics.get("modes") or {"": {"directions": metrics["directions"]}}
    parts = []
    for mode, result in modes.items():
        if mode:
            parts.append(f"<h3>{html.escape(MODE_TITLES.get(mode, mode))}</h3>")
        parts.append(metrics_tables(result["directions"], labels))
        lines = comparison_lines(result.get("differences", {}), labels)
        if lines:
            items = "".join(f"<li>{_bold(line.removeprefix('- '))}</li>" for line in lines)
            parts.append(f'<ul class="comparisons">{items}</ul>')
    return "\n".join(parts)


def _bold(markdown: str) -> str:
    """A line of Markdown with **bold** as HTML, everything else escaped."""
    pieces = html.escape(markdown).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(pieces))


def _model_text(entry) -> str:
    """A model's description (and recipe, for trained networks) from metrics.json."""
    if not isinstance(entry, dict):
        return html.escape(str(entry))
    text = html.escape(str(entry.get("description", "")))
    if entry.get("recipe"):
        recipe = ", ".join(f"{k} {v}" for k, v in entry["recipe"].items())
        text += f' <span class="recipe">recipe: {html.escape(recipe)}</span>'
    return text


def detection_html(detection: dict, labels: dict[str, str]) -> str:
    """eval's ``change_detection`` block as a table: one row per model, one column per figure."""
    per_model = {k: v for k, v in detection.items() if isinstance(v, dict)}
    notes = {k: v for k, v in detection.items() if not isinstance(v, dict)}
    keys = [k for k in dict.fromkeys(k for v in per_model.values() for k in v) if not k.endswith("_ci")]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = "".join(
        f"<tr><th>{html.escape(labels.get(name, name))}</th>"
        + "".join(f"<td>{_cell(v)}{_interval(figures, k)}</td>" for k in keys for v in [figures.get(k)])
        + "</tr>"
        for name, figures in per_model.items()
    )
    note = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in notes.items())
    table = (
        f"<table><thead><tr><th>model</th>{head}</tr></thead><tbody>{rows}</tbody></table>" if rows else ""
    )
    return table + (f"<ul>{note}</ul>" if note else "")


def places_payload(pairs, ranks, neighbours, scores, distances) -> list[dict]:
    """One record per evaluated place: ids, footprint bounds, rank of the true match, top answers."""
    bounds = np.round(np.asarray(pairs.geometry.bounds, dtype=float), 2)
    return [
        {
            "id": str(pairs["tile_id_b"].iloc[i]),
            "older_id": str(pairs["tile_id_a"].iloc[i]),
            "b": bounds[i].tolist(),
            "rank": int(ranks[i]),
            "top": [[int(j), round(float(s), 4)] for j, s in zip(neighbours[i, :SHOWN], scores[i, :SHOWN])],
            "d": None if distances is None else round(float(distances[i]), 4),
        }
        for i in range(len(pairs))
    ]


def page_data(metrics, pairs, retrieval, images, classes, distances) -> dict:
    """The JSON the page's script draws from."""
    query_images, query_masks, database_images = images
    colours = {i: rgb for i, (_, rgb) in classes.items()}
    masks = colour_masks(query_masks, colours) if query_masks is not None else None
    return {
        "years": metrics["years"],
        "bands": {"colours": BAND_COLOURS, "labels": BAND_LABELS},
        "classes": {str(i): [name, "#{:02x}{:02x}{:02x}".format(*rgb)] for i, (name, rgb) in classes.items()},
        "places": places_payload(pairs, retrieval.ranks, retrieval.neighbours, retrieval.scores, distances),
        "present": [] if query_masks is None else [np.unique(m).tolist() for m in query_masks],
        "query": [thumbnail(p) for p in query_images],
        "mask": [] if masks is None else [thumbnail(m, nearest=True) for m in masks],
        "database": [thumbnail(p) for p in database_images],
    }


def _asset(name: str) -> str:
    return resources.files("geosiam.data").joinpath(name).read_text(encoding="utf-8")


def _script_safe(text: str) -> str:
    """Text that cannot close its ``<script>`` element early."""
    return text.replace("</", "<\\/")


def render(metrics: dict, labels: dict[str, str], sections: dict[str, str], data: dict) -> str:
    """The whole page: the template with its style, sections, data and script inlined."""
    years = metrics["years"]
    title = f"geosiam evaluation: run {metrics['run']}"
    intro = (
        f"Split <b>{html.escape(str(metrics['split']))}</b>: {metrics['n_pairs']} places seen in "
        f"{years['older']} and {years['newer']}. Each query is a tile of one year; the database holds "
        "the other year's tiles of the split, exactly one of them the query's own place. MAP@5 is the "
        "mean of 1/rank of the true match within the top 5 (= MRR@5); intervals are 95 % block "
        "bootstrap intervals where eval computed them."
    )
    models = "".join(
        f"<li><b>{html.escape(labels.get(n, n))}</b>: {_model_text(entry)}</li>"
        for n, entry in metrics.get("models", {}).items()
    )
    skipped = "".join(
        f"<li>{html.escape(labels.get(n, n))}: {html.escape(str(why))}</li>"
        for n, why in metrics.get("skipped", {}).items()
    )
    body = f"<p>{intro}</p><ul>{models}</ul>" + (
        f"<p>Not evaluated:</p><ul>{skipped}</ul>" if skipped else ""
    )
    page = _asset("report.html")
    for marker, text in (
        ("TITLE", html.escape(title)),
        ("STYLE", _asset("report.css")),
        ("INTRO", body),
        ("METRICS", sections["metrics"]),
        ("CURVES", sections.get("curves", "")),
        ("RECALL", sections.get("recall", "")),
        ("CHANGES", sections.get("changes", "")),
        ("DATA", _script_safe(json.dumps(data, separators=(",", ":")))),
        ("SCRIPT", _script_safe(_asset("report.js"))),
    ):
        page = page.replace(f"<!--geosiam:{marker}-->", text)
    return page


def _figure_section(title: str, uri: str | None, alt: str, note: str = "") -> str:
    if uri is None:
        return f"<h2>{html.escape(title)}</h2><p>{html.escape(note or 'not available')}</p>"
    return f'<h2>{html.escape(title)}</h2><img class="figure" alt="{html.escape(alt)}" src="{uri}">'


def write_report_html(
    out: Path,
    metrics: dict,
    labels: dict[str, str],
    pairs,
    retrieval,
    images: tuple,
    classes: dict[int, tuple[str, tuple[int, int, int]]],
    distances: np.ndarray | None = None,
) -> Path:
    """``out/report.html`` for the main model's reference direction, written atomically.

    ``retrieval`` holds its ranks, neighbours and scores; ``images`` are (query tiles, their masks
    or None, database tiles), query ``i``'s true match being database row ``i``; ``classes`` maps
    class id -> (name, RGB); ``distances`` are the cosine distances between each place's two
    years (the change layer of the map), when known. The training curves come from the run folder
    (``out``'s parent), the recall@k chart and change map from ``out``.
    """

    out = Path(out)
    curves = read_curves(out.parent)
    sections = {
        "metrics": modes_html(metrics, labels),
        "curves": _figure_section(
            "Training curves",
            figure_uri(curves_figure(curves)) if curves.epochs else None,
            "training loss and MAP@5 by epoch",
            "this run has no history.csv",
        ),
        "recall": _figure_section("recall@k", png_uri(out / "recall_at_k.png"), "recall at k, per model"),
    }
    detection = metrics.get("change_detection")
    if detection:
        sections["changes"] = (
            "<h2>Change detection</h2>"
            + detection_html(detection, labels)
            + (
                f'<img class="figure" alt="change map" src="{uri}">'
                if (uri := png_uri(out / "change_map.png"))
                else ""
            )
        )
    data = page_data(metrics, pairs, retrieval, images, classes, distances)
    path = out / REPORT_HTML
    atomic.write_text(path, render(metrics, labels, sections, data))
    return path
