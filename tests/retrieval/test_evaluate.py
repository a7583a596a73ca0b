"""Evaluation: retrieval on hand-made vectors, split checks, and a whole run with its report."""

import contextlib
import io
import json
import re
import shutil

import geopandas as gpd
import numpy as np
import pytest

from geosiam.config import load_settings, save_settings
from geosiam.errors import SettingsError, WorkspaceError
from geosiam.retrieval import report
from geosiam.retrieval.evaluate import both_directions, evaluate_run
from geosiam.tiling.tables import split_pairs
from tests.qgis_desktop import stored_style
from tests.retrieval.factory import make_run, make_workspace, shared

FIGURES = ("map_at_5", "recall_at_1", "recall_at_5", "recall_at_10")
KEYS = {*FIGURES, "n_queries"} | {f"{f}_ci" for f in FIGURES}
MODELS = {"model", "image_only", "mask_only", "untrained", "pixels_rgb", "pixels_mask", "pixels_rgb_mask"}
IMAGE_SIDE_MODELS = {"model", "image_only", "untrained", "pixels_rgb"}  # no mask, no mask baseline


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
    with pytest.raises(SettingsError, match=re.escape("unknown split 'dev': use --split train | val | test")):
        split_pairs(ws, "dev")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    ws = shared(tmp_path_factory)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        evaluation = evaluate_run(ws.workspace, ws.run)
    assert printed.getvalue() == ""  # library code returns what it found; the command prints it
    return ws, evaluation.metrics, evaluation


def test_metrics_cover_every_setting_model_and_direction_with_intervals(evaluated):
    ws, metrics, _ = evaluated
    assert metrics["labels"] == "both" and metrics["mode"] == "fused"
    assert list(metrics["modes"]) == ["fused", "fused_vs_image_only", "image_only"]
    assert metrics["directions"] == metrics["modes"]["fused"]["directions"]
    for mode, expected in (
        ("fused", MODELS),
        ("fused_vs_image_only", IMAGE_SIDE_MODELS),
        ("image_only", IMAGE_SIDE_MODELS),
    ):
        for direction in ("newer_to_older", "older_to_newer"):
            per_model = metrics["modes"][mode]["directions"][direction]
            assert set(per_model) == expected
            for figures in per_model.values():
                assert set(figures) == KEYS and figures["n_queries"] == 12
                assert figures["recall_at_1"] <= figures["map_at_5"] <= figures["recall_at_5"]
                for name in FIGURES:
                    low, high = figures[f"{name}_ci"]
                    assert 0 <= low <= high <= 1
            differences = metrics["modes"][mode]["differences"][direction]
            assert set(differences) == expected - {"model"}
            for name, diff in differences.items():
                ours, theirs = per_model["model"]["map_at_5"], per_model[name]["map_at_5"]
                assert diff["map_at_5"] == pytest.approx(ours - theirs)
                low, high = diff["map_at_5_ci"]
                assert low <= high
                assert diff["verdict"] == (
                    "above" if low > 0 else "below" if high < 0 else "indistinguishable"
                )
    main = metrics["directions"]["newer_to_older"]["model"]
    assert {key: metrics[key] for key in KEYS} == main
    assert metrics["split"] == "test" and metrics["years"] == {"older": 2000, "newer": 2015}
    assert metrics["skipped"] == {} and metrics["n_blocks"] == 3
    assert metrics["bootstrap"]["resamples"] >= 1000
    recipe = metrics["models"]["model"]["recipe"]
    assert {"backbone", "loss", "epochs", "input_px", "mask_dropout", "weights"} <= set(recipe)
    assert recipe["backbone"] == "mobilenetv3small" and recipe["input_px"] == 32
    assert (
        metrics["models"]["mask_only"]["run"] == "mask-only"
        and metrics["models"]["mask_only"]["recipe"]["mask_only"]
    )
    assert metrics["models"]["untrained"]["recipe"]["epochs"] == 0
    assert metrics["models"]["pixels_rgb"]["recipe"] is None


def test_the_image_only_setting_never_reads_a_mask(evaluated):
    """A fused network fed no mask in either year is the same as the image-only setting; the
    raw-pixel image baseline does not change with the setting."""
    _, metrics, _ = evaluated
    modes = metrics["modes"]
    pixels = [modes[m]["directions"]["newer_to_older"]["pixels_rgb"] for m in modes]
    assert pixels[0] == pixels[1] == pixels[2]
    ablation = [modes[m]["directions"]["newer_to_older"]["image_only"] for m in modes]
    assert ablation[0] == ablation[2]


def test_newer_labels_evaluate_with_the_older_masks_deleted(tmp_path):
    ws = make_workspace(tmp_path / "ws", places=10, changed=1)
    run = make_run(ws, "newer", labels="newer")
    shutil.rmtree(ws.root / "masks" / "2000")
    with contextlib.redirect_stdout(io.StringIO()):
        metrics = evaluate_run(ws, run).metrics
    assert metrics["labels"] == "newer" and metrics["mode"] == "fused_vs_image_only"
    assert list(metrics["modes"]) == ["fused_vs_image_only", "image_only"]
    for mode in metrics["modes"].values():
        per_model = mode["directions"]["newer_to_older"]
        assert "pixels_mask" not in per_model and "pixels_rgb_mask" not in per_model
        assert all(len(figures["map_at_5_ci"]) == 2 for figures in per_model.values())
    report_text = (run / "eval" / "report.md").read_text()
    assert "Labels: **newer**" in report_text and "fused vs image-only" in report_text


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
    assert "pixels: mask" in report and "image-only run (image-only)" in report
    assert "mask-only run (mask-only)" in report and "recipe: backbone mobilenetv3small" in report
    assert "[0." in report  # intervals in the tables
    assert any(f"**{word}**" in report for word in ("above", "below", "indistinguishable from"))
    assert not list(out.glob("*.tmp*"))


def test_eval_returns_the_table_and_where_the_report_is(evaluated):
    _, _, evaluation = evaluated
    assert "| MAP@5 |" in evaluation.table and "trained (fused)" in evaluation.table
    assert (evaluation.report_dir / "report.md").exists() and (evaluation.report_dir / "report.html").exists()


def test_other_splits_and_missing_baselines_are_reported(tmp_path, tmp_path_factory):
    ws = make_workspace(tmp_path, places=6, splits=["val"] * 6, changed=0)
    run = ws.run_dir("offline")
    shutil.copytree(shared(tmp_path_factory).run, run, ignore=shutil.ignore_patterns("eval*", "vectors"))
    settings = load_settings(run / "geosiam.toml")
    settings.train.weights = str(tmp_path / "deleted-weights.h5")  # the untrained net cannot be built
    save_settings(settings, run / "geosiam.toml")
    metrics = evaluate_run(ws, run, split="val").metrics
    assert set(metrics["skipped"]) == {"untrained", "image_only", "mask_only"}
    assert "does not exist" in metrics["skipped"]["untrained"]
    assert "untrained" not in metrics["directions"]["newer_to_older"]
    assert (run / "eval_val" / "metrics.json").exists() and not (run / "eval").exists()
    assert "Not evaluated:" in (run / "eval_val" / "report.md").read_text()
