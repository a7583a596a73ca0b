"""``geosiam eval``: how well a run finds each place of one year among the other year's tiles.

The reference protocol (Khokhlova et al. 2020): on one split (test by default), the tiles of the
newer year are the queries and those of the older year the database; each query has exactly one
relevant item, its own place. Exact kNN (FAISS, cosine) gives the rank of that item, hence MAP@5
(= MRR@5) and recall@1/5/10; the opposite direction is reported too.

The run is measured in every setting its labels allow (:func:`geosiam.model.labels.retrieval_modes`):
``fused`` (image and map in both years), ``fused_vs_image_only`` (the newer year with its map
against the older year's images alone: the realistic case) and ``image_only``. Beside it, in each
setting, what needs no learning and sees only what that setting sees (raw pixels of the image;
of the mask and of both where both years have masks), the network before training, and the
image-only and mask-only ablation runs where they exist. Every figure has a 95% interval from a
bootstrap over the split's spatial blocks, and each comparison with the run a paired interval
(:mod:`geosiam.retrieval.scores`). Each model records its recipe, so that runs trained on other
budgets are not compared unawares.

Outputs, in ``runs/<run>/eval/`` (``eval_<split>/`` for another split), all written atomically:
metrics.json, report.md, report.html (self-contained, with a map), recall_at_k.png, examples.png,
failure_map.png, ranks.gpkg.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geosiam import atomic
from geosiam.config import TrainSettings
from geosiam.errors import GeosiamError, WorkspaceError
from geosiam.model.cache import split_cache
from geosiam.model.embedder import load_embedder, untrained_embedder
from geosiam.model.labels import MODE_SIDES, NO_LABELS, mask_file, masked_years, retrieval_modes
from geosiam.ranking import Retrieval, recall_curve, retrieve
from geosiam.rasterize.classes import load_classes
from geosiam.retrieval import baselines, report, report_html
from geosiam.retrieval.bootstrap import RESAMPLES
from geosiam.retrieval.change_map import add_change_detection
from geosiam.retrieval.changes import cosine_distances
from geosiam.retrieval.runs import ablation_run
from geosiam.retrieval.scores import difference, summary_with_intervals
from geosiam.runfolder import RunFolder
from geosiam.tiling.tables import split_pairs, write_geopackage
from geosiam.workspace import Workspace

MAX_K = 10
EXAMPLES = 8
BATCH_SIZE = 64
MAIN = "model"
REFERENCE = "newer_to_older"
DIRECTIONS = (REFERENCE, "older_to_newer")
RECIPE = (
    "backbone",
    "loss",
    "epochs",
    "input_px",
    "mask_dropout",
    "weights",
    "labels",
    "image_only",
    "mask_only",
    "learning_rate",
    "anchors_per_batch",
    "greyscale",
    "seed",
)


def both_directions(older: np.ndarray, newer: np.ndarray) -> dict[str, Retrieval]:
    """Retrieval newer -> older (the reference) and older -> newer."""
    return {REFERENCE: retrieve(newer, older, MAX_K), "older_to_newer": retrieve(older, newer, MAX_K)}


class _SplitArrays:
    """The split's tiles, and the masks the run's labels allow, at each input size: rows of the
    split's packed cache (the one training and mining use; packed once, then only sliced)."""

    def __init__(self, workspace: Workspace, pairs, split: str, labels: str, num_classes: int) -> None:
        self.workspace, self.pairs, self.split, self.labels = workspace, pairs, split, labels
        self.num_classes, self._cache = num_classes, {}
        self.masked = masked_years(labels)

    def at(
        self, size: int
    ) -> tuple[tuple[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray | None]]:
        """((older images, masks), (newer images, masks)) at ``size`` px; masks None where the
        label mode leaves a year out (its files are never opened)."""
        if size not in self._cache:
            for side, used in zip("ab", self.masked):
                if used and any(mask_file(self.workspace, p) is None for p in self.pairs[f"mask_{side}"]):
                    raise WorkspaceError(
                        f"{self.workspace.pairs_index} lists tiles of {self.pairs[f'year_{side}'].iloc[0]} "
                        "without masks, but the run uses that year's labels: evaluate a run trained "
                        "with the workspace's labels (geosiam train --labels newer)"
                    )
            cache = split_cache(self.workspace, self.split, size, self.num_classes, self.labels)
            row_of = {pair_id: row for row, pair_id in enumerate(cache.pair_ids)}
            rows = np.asarray([row_of[str(p)] for p in self.pairs["pair_id"]])
            self._cache[size] = tuple(
                (cache.images[side][rows], cache.masks[side][rows] if used else None)
                for side, used in enumerate(self.masked)
            )
        return self._cache[size]


def _embed_both(embedder, older: tuple, newer: tuple, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors of both years in ``mode`` (which years keep their masks), in one model call."""
    images = np.concatenate([older[0], newer[0]])
    masks = None
    if embedder.uses_masks:
        sides = [
            t[1] if (keep and t[1] is not None) else np.full(t[0].shape[:3], NO_LABELS, np.uint8)
            for t, keep in zip((older, newer), MODE_SIDES[mode])
        ]
        masks = np.concatenate(sides)
    vectors = embedder.embed(images, masks, batch_size=BATCH_SIZE)
    return vectors[: len(older[0])], vectors[len(older[0]) :]


@dataclass
class _Candidates:
    """The models to measure: name -> (embedder or baseline kind, description, run, recipe)."""

    embedders: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)


def recipe(train: TrainSettings) -> dict:
    """What a run was trained with, as far as comparing its figures goes."""
    return {key: getattr(train, key) for key in RECIPE}


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate_run`` measured and wrote: the metrics (as in metrics.json), the tables of
    report.md, and the folder of the report."""

    metrics: dict
    table: str
    report_dir: Path


def evaluate_run(
    workspace: Workspace | Path,
    run_dir: Path,
    split: str = "test",
    image_only_name: str | None = None,
    mask_only_name: str | None = None,
) -> Evaluation:
    """Evaluate ``run_dir``, its ablations and baselines on ``split`` in every setting the run's
    labels allow; write the report (metrics.json, report.md, report.html, figures)."""

    workspace = workspace if isinstance(workspace, Workspace) else Workspace(Path(workspace))
    run_dir = Path(run_dir)
    workspace.require_prepared()
    pairs = split_pairs(workspace, split)
    blocks = pairs["block"].astype(str).to_numpy()
    main = load_embedder(run_dir)
    labels = main.settings.labels or "both"
    modes = retrieval_modes(labels, main.settings)
    num_classes = load_classes(workspace.classes_path).num_classes
    arrays = _SplitArrays(workspace, pairs, split, labels, num_classes)
    found = _Candidates()
    found.embedders[MAIN] = main
    found.models[MAIN] = _entry(
        f"the trained run {run_dir.name} (model {main.identity})", run_dir, main.settings
    )
    for kind, name in (("image_only", image_only_name), ("mask_only", mask_only_name)):
        other = ablation_run(workspace, kind, name, run_dir)
        if other is not None:
            found.embedders[kind] = load_embedder(other)
            what = "images alone" if kind == "image_only" else "masks alone"
            found.models[kind] = _entry(
                f"the ablation run {other.name}, trained on {what}", other, found.embedders[kind].settings
            )
        elif not getattr(main.settings, kind):
            flag = kind.replace("_", "-")
            found.skipped[kind] = (
                f"no {kind.replace('_', '-')} run in this workspace (train one with --{flag})"
            )
    try:
        found.embedders["untrained"] = untrained_embedder(main.settings, main.num_classes, main.input_px)
        found.models["untrained"] = _entry(
            "the same network with its initial weights, before training", None, main.settings, epochs=0
        )
    except GeosiamError as exc:
        found.skipped["untrained"] = str(exc)
    cells = baselines.CELLS
    found.models["pixels_rgb"] = _entry(f"raw pixels of the image ({cells}x{cells} thumbnail, mean-centred)")
    found.models["pixels_mask"] = _entry(f"raw pixels of the mask (class shares on a {cells}x{cells} grid)")
    found.models["pixels_rgb_mask"] = _entry("raw pixels of image and mask, side by side")

    vectors = {mode: _descriptors(mode, found, arrays, num_classes) for mode in modes}
    results = {
        mode: {name: both_directions(*pair) for name, pair in per_model.items()}
        for mode, per_model in vectors.items()
    }
    years = {"older": int(pairs["year_a"].iloc[0]), "newer": int(pairs["year_b"].iloc[0])}
    report_modes = {mode: _figures(per_model, blocks) for mode, per_model in results.items()}
    primary = modes[0]
    metrics = {
        **report_modes[primary]["directions"][REFERENCE][MAIN],
        "run": run_dir.name,
        "model_identity": main.identity,
        "split": split,
        "years": years,
        "labels": labels,
        "mode": primary,
        "n_pairs": len(pairs),
        "n_blocks": int(len(set(blocks))),
        "bootstrap": {"unit": "spatial block", "resamples": RESAMPLES, "level": 0.95},
        "directions": report_modes[primary]["directions"],
        "modes": report_modes,
        "models": {
            name: entry for name, entry in found.models.items() if any(name in r for r in results.values())
        },
        "skipped": found.skipped,
    }
    names = _labels(run_dir.name, found)
    table = report.modes_tables(report_modes, names)
    out = RunFolder(run_dir).eval_dir(split)
    table, change_figures = add_change_detection(metrics, table, pairs, vectors[primary], names, MAIN, out)
    _write_outputs(
        out,
        metrics,
        table,
        names,
        results[primary],
        pairs,
        arrays.at(main.input_px),
        workspace,
        change_figures,
    )
    older, newer = arrays.at(report_html.THUMB_PX)  # the page's thumbnails, read at their own size
    report_html.write_report_html(
        out,
        metrics,
        names,
        pairs,
        results[primary][MAIN][REFERENCE],
        (newer[0], newer[1], older[0]),
        _class_names(workspace),
        cosine_distances(*vectors[primary][MAIN]),
    )
    return Evaluation(metrics, table, out)


def _entry(description: str, run: Path | None = None, train: TrainSettings | None = None, **changes) -> dict:
    """A model's entry in metrics.json: what it is, its run and its recipe (None for baselines)."""
    return {
        "description": description,
        "run": run.name if run is not None else None,
        "recipe": (recipe(train) | changes) if train is not None else None,
    }


def _descriptors(mode: str, found: _Candidates, arrays: _SplitArrays, num_classes: int) -> dict[str, tuple]:
    """name -> (older, newer) descriptors of every model that can be measured in ``mode``."""
    older_masked, newer_masked = MODE_SIDES[mode]
    vectors = {}
    for name, embedder in found.embedders.items():
        if embedder.mask_only and not (older_masked and newer_masked):
            continue
        vectors[name] = _embed_both(embedder, *arrays.at(embedder.input_px), mode)
    older, newer = arrays.at(found.embedders[MAIN].input_px)
    vectors["pixels_rgb"] = tuple(baselines.rgb_descriptors(t[0]) for t in (older, newer))
    if older_masked and newer_masked:  # mask baselines only where both years have their masks
        vectors["pixels_mask"] = tuple(baselines.mask_descriptors(t[1], num_classes) for t in (older, newer))
        vectors["pixels_rgb_mask"] = tuple(
            baselines.rgb_mask_descriptors(t[0], t[1], num_classes) for t in (older, newer)
        )
    return vectors


def _figures(per_model: dict[str, dict], blocks: np.ndarray) -> dict:
    """Figures with intervals per direction and model, and each model's paired difference to MAIN."""
    directions, differences = {}, {}
    for direction in DIRECTIONS:
        directions[direction] = {
            name: summary_with_intervals(r[direction].ranks, blocks) for name, r in per_model.items()
        }
        main = per_model[MAIN][direction].ranks
        differences[direction] = {
            name: difference(main, r[direction].ranks, blocks)
            for name, r in per_model.items()
            if name != MAIN
        }
    return {"directions": directions, "differences": differences}


def _class_names(workspace: Workspace) -> dict[int, tuple[str, tuple[int, int, int]]]:
    """Class id -> (name, colour) of the workspace's class table, background included."""

    return {0: ("background", (0, 0, 0))} | {
        c.id: (c.name, c.colour) for c in load_classes(workspace.classes_path).classes
    }


def _labels(run_name: str, found: _Candidates) -> dict[str, str]:
    runs = {name: entry["run"] for name, entry in found.models.items()}
    return {
        MAIN: f"trained ({run_name})",
        "image_only": f"image-only run ({runs.get('image_only')})",
        "mask_only": f"mask-only run ({runs.get('mask_only')})",
        "untrained": "untrained network",
        "pixels_rgb": "pixels: image",
        "pixels_mask": "pixels: mask",
        "pixels_rgb_mask": "pixels: image + mask",
    }


def _write_outputs(out, metrics, table, labels, results, pairs, arrays, workspace, figures_more) -> None:
    """metrics.json, the figures (of the main setting), ranks.gpkg and report.md (last, as it
    links the rest)."""

    older, newer = arrays
    main = results[MAIN][REFERENCE]
    curves = {d: {name: recall_curve(r[d].ranks, MAX_K) for name, r in results.items()} for d in DIRECTIONS}
    atomic.write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    report.save_figure(report.recall_figure(curves, labels), out / "recall_at_k.png")
    titles = [
        f"{t} ({metrics['years']['newer']}) rank {r or '>' + str(MAX_K)}"
        for t, r in zip(pairs["tile_id_b"], main.ranks)
    ]
    picks = report.pick_examples(main.ranks, EXAMPLES)
    colours = load_classes(workspace.classes_path).colours()
    report.save_figure(
        report.examples_figure(
            newer[0], newer[1], older[0], main.neighbours, main.scores, main.ranks, picks, titles, colours
        ),
        out / "examples.png",
    )
    report.save_figure(
        report.failure_map_figure(
            pairs.geometry,
            main.ranks,
            f"rank of the true match, {labels[MAIN]}, {metrics['mode']}, {metrics['split']} split",
        ),
        out / "failure_map.png",
    )
    ranks = pairs[["pair_id", "tile_id_a", "tile_id_b", "year_a", "year_b", "geometry"]].copy()
    for name, r in results.items():
        ranks[f"rank_{name}"] = r[REFERENCE].ranks
    ranks["rank_class"] = report.rank_classes(main.ranks)
    write_geopackage(ranks, out / "ranks.gpkg", "ranks", report.RANK_STYLE)
    figures = {
        "recall_at_k.png": "recall@k",
        "examples.png": "example queries and their top 5",
        "failure_map.png": "where retrieval fails",
        **figures_more,
    }
    atomic.write_text(out / "report.md", report.report_markdown(metrics, table, labels, figures))
