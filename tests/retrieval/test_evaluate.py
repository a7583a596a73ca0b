"""Evaluation: retrieval on hand-made vectors, split checks, and a whole run with its report."""

import contextlib
import io
import json
import shutil

import geopandas as gpd
import numpy as np
import pytest

from geosiam.config import load_settings, save_settings
from geosiam.errors import SettingsError, WorkspaceError
from geosiam.retrieval import report
from geosiam.retrieval.evaluate import both_directions, evaluate_run, retrieve, split_pairs
from tests.qgis_desktop import stored_style
from tests.retrieval.factory import make_workspace, shared

KEYS = {"map_at_5", "recall_at_1", "recall_at_5", "recall_at_10", "n_queries"}
MODELS = {"model", "image_only", "untrained", "pixels_rgb", "pixels_mask", "pixels_rgb_mask"}


def test_retrieve_ranks_each_query_against_its_aligned_match():
    database = np.eye(4, dtype=np.float32)
    queries = database[[0, 2, 1, 3]]  # query 1 looks like item 2, query 2 like item 1
    result = retrieve(queries, database)
    assert result.ranks[0] == 1 and result.ranks[3] == 1
    assert result.ranks[1] > 1 and result.ranks[2] > 1
    assert result.neighbours[1, 0] == 2 and result.scores[0, 0] == pytest.approx(1)


def test_both_directions_swap_queries_and_database():
    older = np.eye(3, dtype=np.float32)
    newer = older[[1, 0, 2]]
    results = both_directions(older, newer)
    assert results["newer_to_older"].neighbours[0, 0] == 1
    assert results["older_to_newer"].neighbours[1, 0] == 0
    assert set(results) == {"newer_to_older", "older_to_newer"}


def test_splits_are_checked_and_named(tmp_path):
    ws = make_workspace(tmp_path, places=4, splits=["train", "train", "test", "test"])
    assert len(split_pairs(ws, "test")) == 2
    with pytest.raises(WorkspaceError, match=r"split 'val' has no pairs \(test: 2, train: 2\)"):
        split_pairs(ws, "val")
    with pytest.raises(SettingsError, match="use --split train | val | test"):
        split_pairs(ws, "dev")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    ws = shared(tmp_path_factory)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        metrics = evaluate_run(ws.workspace, ws.run)
    return ws, metrics, printed.getvalue()


def test_metrics_cover_every_model_both_directions_and_the_top_level(evaluated):
    ws, metrics, _ = evaluated
    for direction in ("newer_to_older", "older_to_newer"):
        assert set(metrics["directions"][direction]) == MODELS
        for figures in metrics["directions"][direction].values():
            assert set(figures) == KEYS and figures["n_queries"] == 12
            assert figures["recall_at_1"] <= figures["map_at_5"] <= figures["recall_at_5"]
    main = metrics["directions"]["newer_to_older"]["model"]
    assert {key: metrics[key] for key in KEYS} == main
    assert metrics["split"] == "test" and metrics["years"] == {"older": 2000, "newer": 2015}
    assert metrics["skipped"] == {}


def test_raw_pixels_find_unchanged_places_and_miss_rebuilt_ones(evaluated):
    ws, metrics, _ = evaluated
    assert metrics["directions"]["newer_to_older"]["pixels_rgb"]["recall_at_1"] == pytest.approx(10 / 12)
    ranks = gpd.read_file(ws.run / "eval" / "ranks.gpkg", layer="ranks")
    assert len(ranks) == 12 and (ranks["rank_pixels_rgb"].iloc[:10] == 1).all()
    assert (ranks["rank_pixels_rgb"].iloc[10:] != 1).all()
    # ranks.gpkg opens in QGIS in the failure map's colours, by the trained model's rank class
    model_bands = report.rank_bands(ranks["rank_model"].to_numpy())
    assert (ranks["rank_class"] == np.asarray(report.BAND_LABELS)[model_bands]).all()
    style = stored_style(ws.run / "eval" / "ranks.gpkg", "ranks")
    assert style["attribute"] == "rank_class"
    assert style["classes"] == [[b, b, c] for b, c in zip(report.BAND_LABELS, report.BAND_COLOURS)]


def test_report_files_are_written(evaluated):
    ws, metrics, _ = evaluated
    out = ws.run / "eval"
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    report = (out / "report.md").read_text()
    for figure in ("recall_at_k.png", "examples.png", "failure_map.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({figure})" in report
    assert "pixels: mask" in report and "image only (image-only)" in report
    assert not list(out.glob("*.tmp*"))


def test_eval_prints_the_table(evaluated):
    _, _, printed = evaluated
    assert "| MAP@5 |" in printed and "trained (fused)" in printed and "report:" in printed


def test_other_splits_and_missing_baselines_are_reported(tmp_path, tmp_path_factory):
    ws = make_workspace(tmp_path, places=6, splits=["val"] * 6, changed=0)
    run = ws.run_dir("offline")
    shutil.copytree(shared(tmp_path_factory).run, run, ignore=shutil.ignore_patterns("eval*", "vectors"))
    settings = load_settings(run / "geosiam.toml")
    settings.train.weights = str(tmp_path / "deleted-weights.h5")  # the untrained net cannot be built
    save_settings(settings, run / "geosiam.toml")
    metrics = evaluate_run(ws, run, split="val")
    assert set(metrics["skipped"]) == {"untrained", "image_only"}
    assert "does not exist" in metrics["skipped"]["untrained"]
    assert "untrained" not in metrics["directions"]["newer_to_older"]
    assert (run / "eval_val" / "metrics.json").exists() and not (run / "eval").exists()
    assert "Not evaluated:" in (run / "eval_val" / "report.md").read_text()
