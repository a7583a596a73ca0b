"""Report pieces: the table, example picking, mask colours, the mosaic and the figures."""

import geopandas as gpd
import numpy as np
import shapely

from geosiam.retrieval import report

COLOURS = {0: (0, 0, 0), 1: (0, 255, 0), 2: (0, 0, 255)}


def figures(map5):
    return {"map_at_5": map5, "recall_at_1": 0.5, "recall_at_5": 0.75, "recall_at_10": 1.0, "n_queries": 4}


def test_table_has_one_block_per_direction_one_row_per_model():
    table = report.metrics_table(
        {
            "newer_to_older": {"model": figures(0.875), "pixels_rgb": figures(0.25)},
            "older_to_newer": {"model": figures(0.5)},
        },
        {"model": "trained (r1)", "pixels_rgb": "pixels: image"},
    )
    lines = table.splitlines()
    assert "newer year -> older year" in lines[0]
    assert lines[4] == "| trained (r1) | 0.875 | 0.500 | 0.750 | 1.000 | 4 |"
    assert lines[5].startswith("| pixels: image | 0.250")
    assert "older year -> newer year" in table


def test_examples_mix_successes_and_the_worst_failures():
    ranks = np.array([1, 3, 1, 0, 2, 1, 1])
    picks = report.pick_examples(ranks, 4)
    assert picks.tolist() == [0, 2, 3, 1]
    assert report.pick_examples(np.array([1, 1]), 4).tolist() == [0, 1]
    assert report.pick_examples(np.array([0, 4]), 1).tolist() == [0]


def test_masks_are_coloured_by_class_and_unknown_ids_grey():
    pictures = report.colour_masks(np.array([[[1, 2, 7]]], dtype=np.uint8), COLOURS)
    assert pictures.tolist() == [[[[0, 255, 0], [0, 0, 255], [128, 128, 128]]]]


def test_mosaic_frames_the_true_match_where_it_is_and_adds_it_when_missed():
    px = 8
    database = np.stack([np.full((px, px, 3), 10 * i, np.uint8) for i in range(6)])
    neighbours = np.array([[1, 0, 2, 3, 4], [0, 2, 3, 4, 5]])
    ranks = np.array([2, 0])
    canvas = report.examples_mosaic(
        database[:2], None, database, neighbours, ranks, np.array([0, 1]), COLOURS
    )
    height, width = report.mosaic_cell(px)
    assert canvas.shape == (2 * height, 7 * width, 3)
    frame, white = list(report.MATCH_RGB), [255, 255, 255]
    top = report.CAPTION_PX  # first pixel row of the cells of row 0, below their captions
    assert canvas[0, 2 * width].tolist() == white  # caption band
    assert canvas[top, 2 * width].tolist() == frame  # row 0: rank 2 -> column 1 + 2 - 1 = 2
    assert [canvas[top, c * width].tolist() == frame for c in range(7)].count(True) == 1
    row1 = height + top
    assert canvas[row1, 6 * width].tolist() == frame  # row 1: missed -> the true match at the end
    assert [canvas[row1, c * width].tolist() == frame for c in range(7)].count(True) == 1
    inner = canvas[row1 + report.FRAME + 1, 6 * width + report.FRAME + 1]
    assert inner.tolist() == [10, 10, 10]  # database row 1
    assert canvas[top, 6 * width].tolist() == white  # row 0 found it: last cell empty


def test_figures_are_saved_as_png(tmp_path):
    curves = {"newer_to_older": {"model": np.array([0.5, 0.75, 1.0])}}
    report.save_figure(report.recall_figure(curves, {"model": "trained"}), tmp_path / "r.png")
    footprints = gpd.GeoSeries([shapely.box(i, 0, i + 1, 1) for i in range(4)])
    fig = report.failure_map_figure(footprints, np.array([1, 3, 8, 0]), "ranks")
    report.save_figure(fig, tmp_path / "f.png")
    images = np.zeros((2, 8, 8, 3), np.uint8)
    fig = report.examples_figure(
        images,
        np.zeros((2, 8, 8), np.uint8),
        images,
        np.array([[0, 1], [0, 1]]),
        np.ones((2, 2)),
        np.array([1, 0]),
        np.array([0, 1]),
        ["a", "b"],
        COLOURS,
        shown=2,
    )
    report.save_figure(fig, tmp_path / "e.png")
    for name in ("r.png", "f.png", "e.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.png", "f.png", "r.png"]


def test_failure_map_legend_counts_each_band():
    footprints = gpd.GeoSeries([shapely.box(i, 0, i + 1, 1) for i in range(4)])
    fig = report.failure_map_figure(footprints, np.array([1, 1, 8, 0]), "ranks")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["rank 1 (2)", "rank 2-5 (0)", "rank 6-10 (1)", "not in top 10 (1)"]


def test_report_links_figures_and_lists_models_with_recipes_and_skipped_ones():
    metrics = {
        "run": "r1",
        "split": "test",
        "n_pairs": 4,
        "n_blocks": 2,
        "labels": "newer",
        "bootstrap": {"resamples": 1000},
        "years": {"older": 2000, "newer": 2015},
        "models": {
            "model": {
                "description": "the trained run",
                "run": "r1",
                "recipe": {"backbone": "resnet50", "epochs": 3},
            },
            "pixels_rgb": {"description": "raw pixels", "run": None, "recipe": None},
        },
        "skipped": {"untrained": "no weights"},
    }
    labels = {"model": "trained", "pixels_rgb": "pixels", "untrained": "untrained net"}
    text = report.report_markdown(metrics, "TABLE", labels, {"a.png": "curves"})
    assert text.startswith("# geosiam evaluation: run r1")
    assert "- **trained**: the trained run; recipe: backbone resnet50, epochs 3" in text
    assert "- **pixels**: raw pixels\n" in text and "- untrained net: no weights" in text
    assert "Labels: **newer**" in text and "1000 bootstrap resamples of the split's 2 spatial blocks" in text
    assert "![curves](a.png)" in text and "TABLE" in text


def test_tables_show_intervals_and_comparisons_in_words():
    with_ci = figures(0.875) | {"map_at_5_ci": [0.8, 0.95]}
    table = report.metrics_table({"newer_to_older": {"model": with_ci}}, {"model": "trained"})
    assert "| trained | 0.875 [0.80, 0.95] | 0.500 |" in table
    differences = {
        "newer_to_older": {
            "pixels_rgb": {"map_at_5": 0.3, "map_at_5_ci": [0.2, 0.4], "verdict": "above"},
            "mask_only": {"map_at_5": -0.01, "map_at_5_ci": [-0.05, 0.03], "verdict": "indistinguishable"},
            "image_only": {"map_at_5": 0.0, "map_at_5_ci": [None, None], "verdict": "unknown"},
        }
    }
    lines = report.comparison_lines(differences, {"model": "trained", "pixels_rgb": "pixels: image"})
    assert lines[0] == "- trained is **above** pixels: image: MAP@5 +0.300 (95% interval +0.200 to +0.400)"
    assert "**indistinguishable from** mask_only" in lines[1]
    assert "not comparable" in lines[2] and "no interval" in lines[2]


def test_no_examples_for_no_queries():
    assert report.pick_examples(np.array([], dtype=int), 4).tolist() == []
