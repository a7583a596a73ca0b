"""``geosiam eval``: how well a run finds each place of one year among the other year's tiles.

The reference protocol (Khokhlova et al. 2020): on one split (test by default), the tiles of the
newer year are the queries and those of the older year the database; each query has exactly one
relevant item, its own place. Exact kNN (FAISS, cosine) gives the rank of that item, hence MAP@5
(= MRR@5) and recall@1/5/10; the opposite direction is reported too. Beside the trained model,
the same figures for what needs no learning (raw pixels of the image, of the mask, of both), for
the network before training, and for an image-only run where one exists, so that a user sees
what learning, and the mask, add.

Outputs, in ``runs/<run>/eval/`` (``eval_<split>/`` for another split), all written atomically:
metrics.json, report.md, recall_at_k.png, examples.png, failure_map.png, ranks.gpkg.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geosiam import atomic
from geosiam.errors import GeosiamError, SettingsError, WorkspaceError
from geosiam.mining.index import knn
from geosiam.retrieval import baselines, report
from geosiam.retrieval.change_map import add_change_detection
from geosiam.retrieval.metrics import match_ranks, recall_curve, summary
from geosiam.retrieval.runs import image_only_run
from geosiam.tiling.index import SPLITS, read_pairs
from geosiam.workspace import Workspace

MAX_K = 10
EXAMPLES = 8
BATCH_SIZE = 64
MAIN = "model"
REFERENCE = "newer_to_older"


@dataclass(frozen=True)
class Retrieval:
    """The top-``MAX_K`` answers to every query and the rank of each true match (0 = absent)."""

    ranks: np.ndarray
    neighbours: np.ndarray
    scores: np.ndarray


def retrieve(queries: np.ndarray, database: np.ndarray) -> Retrieval:
    """Exact kNN of aligned sets: query ``i``'s true match is database row ``i``."""
    scores, neighbours = knn(queries, database, MAX_K)
    return Retrieval(match_ranks(neighbours, np.arange(len(queries))), neighbours, scores)


def both_directions(older: np.ndarray, newer: np.ndarray) -> dict[str, Retrieval]:
    """Retrieval newer -> older (the reference) and older -> newer."""
    return {REFERENCE: retrieve(newer, older), "older_to_newer": retrieve(older, newer)}


def split_pairs(workspace: Workspace, split: str | None):
    """The split's pairs (every split's for None), one per place (best footprint overlap kept),
    ordered by pair id."""
    if split is not None and split not in SPLITS:
        raise SettingsError(f"unknown split '{split}': use --split {' | '.join(SPLITS)}")
    pairs = read_pairs(workspace.pairs_index, split)
    if pairs.empty:
        counts = read_pairs(workspace.pairs_index)["split"].value_counts().to_dict()
        have = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items())) or "no pairs at all"
        raise WorkspaceError(
            f"split '{split}' has no pairs ({have}): choose another --split, or prepare a "
            "larger area so that every split gets tiles"
        )
    pairs = pairs.sort_values("iou", ascending=False, kind="stable")
    pairs = pairs.drop_duplicates("image_a").drop_duplicates("image_b")
    return pairs.sort_values("pair_id", kind="stable").reset_index(drop=True)


class _SplitArrays:
    """The split's tiles and masks, read once per input size."""

    def __init__(self, workspace: Workspace, pairs) -> None:
        self.workspace, self.pairs, self._cache = workspace, pairs, {}

    def at(self, size: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """((older images, masks), (newer images, masks)) at ``size`` px."""
        from geosiam.tiling.read import read_many

        if size not in self._cache:
            paths = {
                c: [self.workspace.absolute(p) for p in self.pairs[c]]
                for c in ("image_a", "mask_a", "image_b", "mask_b")
            }
            self._cache[size] = (
                read_many(paths["image_a"], paths["mask_a"], size),
                read_many(paths["image_b"], paths["mask_b"], size),
            )
        return self._cache[size]


def _embed_both(embedder, older: tuple, newer: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors of both years in one model call (one graph trace instead of two)."""
    images = np.concatenate([older[0], newer[0]])
    masks = None if embedder.image_only else np.concatenate([older[1], newer[1]])
    vectors = embedder.embed(images, masks, batch_size=BATCH_SIZE)
    return vectors[: len(older[0])], vectors[len(older[0]) :]


def evaluate_run(
    workspace: Workspace | Path,
    run_dir: Path,
    split: str = "test",
    image_only_name: str | None = None,
) -> dict:
    """Evaluate ``run_dir`` and its baselines on ``split``; write the report; print the table.

    Returns the metrics (as written to metrics.json).
    """
    from geosiam.model.embedder import load_embedder, untrained_embedder
    from geosiam.rasterize.classes import load_classes

    workspace = workspace if isinstance(workspace, Workspace) else Workspace(Path(workspace))
    run_dir = Path(run_dir)
    workspace.require_prepared()
    pairs = split_pairs(workspace, split)
    arrays = _SplitArrays(workspace, pairs)
    main = load_embedder(run_dir)
    (older, newer) = arrays.at(main.input_px)
    vectors = {MAIN: _embed_both(main, older, newer)}
    models = {MAIN: f"the trained run {run_dir.name} (model {main.identity})"}
    skipped: dict[str, str] = {}

    other = image_only_run(workspace, image_only_name, run_dir)
    if other is not None:
        image_only = load_embedder(other)
        vectors["image_only"] = _embed_both(image_only, *arrays.at(image_only.input_px))
        models["image_only"] = f"the image-only run {other.name}, trained without masks"
    elif not main.image_only:
        skipped["image_only"] = "no image-only run in this workspace (train one with image_only = true)"

    try:
        untrained = untrained_embedder(main.settings, main.num_classes, main.input_px)
        vectors["untrained"] = _embed_both(untrained, older, newer)
        models["untrained"] = "the same network with its initial weights, before training"
    except GeosiamError as exc:
        skipped["untrained"] = str(exc)

    num_classes = load_classes(workspace.classes_path).num_classes
    vectors["pixels_rgb"] = tuple(baselines.rgb_descriptors(t[0]) for t in (older, newer))
    vectors["pixels_mask"] = tuple(baselines.mask_descriptors(t[1], num_classes) for t in (older, newer))
    vectors["pixels_rgb_mask"] = tuple(
        baselines.rgb_mask_descriptors(t[0], t[1], num_classes) for t in (older, newer)
    )
    cells = baselines.CELLS
    models["pixels_rgb"] = f"raw pixels of the image ({cells}x{cells} thumbnail, mean-centred)"
    models["pixels_mask"] = f"raw pixels of the mask (class shares on a {cells}x{cells} grid)"
    models["pixels_rgb_mask"] = "raw pixels of image and mask, side by side"

    results = {name: both_directions(*pair) for name, pair in vectors.items()}
    years = {"older": int(pairs["year_a"].iloc[0]), "newer": int(pairs["year_b"].iloc[0])}
    directions = {
        d: {name: summary(r[d].ranks) for name, r in results.items()} for d in (REFERENCE, "older_to_newer")
    }
    metrics = {
        **directions[REFERENCE][MAIN],
        "run": run_dir.name,
        "model_identity": main.identity,
        "split": split,
        "years": years,
        "n_pairs": len(pairs),
        "directions": directions,
        "models": models,
        "skipped": skipped,
    }
    labels = _labels(run_dir.name, other)
    table = report.metrics_table(directions, labels)
    out = run_dir / ("eval" if split == "test" else f"eval_{split}")
    table, change_figures = add_change_detection(metrics, table, pairs, vectors, labels, MAIN, out)
    _write_outputs(out, metrics, table, labels, results, pairs, newer, older, workspace, change_figures)
    print(table)
    print(f"\nreport: {out / 'report.md'}")
    return metrics


def _labels(run_name: str, image_only: Path | None) -> dict[str, str]:
    return {
        MAIN: f"trained ({run_name})",
        "image_only": f"image only ({image_only.name})" if image_only else "image only",
        "untrained": "untrained network",
        "pixels_rgb": "pixels: image",
        "pixels_mask": "pixels: mask",
        "pixels_rgb_mask": "pixels: image + mask",
    }


def _write_outputs(
    out, metrics, table, labels, results, pairs, newer, older, workspace, figures_more
) -> None:
    """metrics.json, the figures, ranks.gpkg and report.md (last, as it links the rest)."""
    from geosiam.rasterize.classes import load_classes
    from geosiam.tiling.index import write_index

    main = results[MAIN][REFERENCE]
    curves = {
        d: {name: recall_curve(r[d].ranks, MAX_K) for name, r in results.items()}
        for d in (REFERENCE, "older_to_newer")
    }
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
            pairs.geometry, main.ranks, f"rank of the true match, {labels[MAIN]}, {metrics['split']} split"
        ),
        out / "failure_map.png",
    )
    ranks = pairs[["pair_id", "tile_id_a", "tile_id_b", "year_a", "year_b", "geometry"]].copy()
    for name, r in results.items():
        ranks[f"rank_{name}"] = r[REFERENCE].ranks
    ranks["rank_class"] = report.rank_classes(main.ranks)
    write_index(ranks, out / "ranks.gpkg", "ranks", report.RANK_STYLE)
    figures = {
        "recall_at_k.png": "recall@k",
        "examples.png": "example queries and their top 5",
        "failure_map.png": "where retrieval fails",
        **figures_more,
    }
    atomic.write_text(out / "report.md", report.report_markdown(metrics, table, labels, figures))
