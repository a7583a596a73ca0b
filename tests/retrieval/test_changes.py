"""Change scores on hand-made descriptors: distances, ranks, AUROC, precision, the grid raster."""

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sklearn.metrics import roc_auc_score

from geosiam.ranking import knn, l2_normalise, retrieve
from geosiam.retrieval import changes
from geosiam.retrieval.changes import (
    NODATA,
    auroc,
    change_detection,
    changed_places,
    cosine_distances,
    detection_table,
    format_top,
    grid_raster,
    place_table,
    precision_at_k,
    ranks_among_neighbours,
    true_match_ranks,
)
from geosiam.retrieval.evaluate import MAX_K
from geosiam.tiling.grid import Grid


def test_cosine_distance_is_zero_for_the_same_two_for_opposite_one_for_orthogonal():
    older = np.eye(3, dtype=np.float32)
    newer = np.stack([older[0], -older[1], older[0]])
    assert cosine_distances(older, newer) == pytest.approx([0.0, 2.0, 1.0])


def test_ranks_are_complete_and_agree_with_eval_within_its_top_k(monkeypatch):
    rng = np.random.default_rng(0)
    older = l2_normalise(rng.normal(size=(40, 8)))
    newer = l2_normalise(older + rng.normal(scale=0.9, size=older.shape))
    ranks = true_match_ranks(older, newer)
    similarity = newer @ older.T
    expected = 1 + (similarity > np.diag(similarity)[:, None]).sum(axis=1)
    assert (ranks == expected).all() and ranks.max() > 10  # not cut at eval's top 10
    within = retrieve(newer, older, MAX_K).ranks
    assert (ranks[within > 0] == within[within > 0]).all()
    monkeypatch.setattr(changes, "RANK_CHUNK_FLOATS", 7 * 40)  # 7 queries per chunk
    assert (true_match_ranks(older, newer) == ranks).all()


def test_auroc_matches_scikit_learn_with_ties_and_is_undefined_for_one_class():
    rng = np.random.default_rng(1)
    for _ in range(5):
        labels = rng.random(60) < 0.3
        scores = np.round(rng.random(60) + 0.4 * labels, 1)  # rounded: many ties
        assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    assert auroc(np.array([0.1, 0.9]), np.array([False, True])) == 1.0
    assert np.isnan(auroc(np.array([0.1, 0.9]), np.array([True, True])))


def test_precision_at_the_number_of_changed_places():
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.05])
    truth = np.array([True, False, True, False, True])
    assert precision_at_k(scores, truth) == pytest.approx(2 / 3)
    assert precision_at_k(scores, truth, k=1) == 1.0
    assert np.isnan(precision_at_k(scores, np.zeros(5, bool)))


def test_changed_places_need_more_than_five_percent_and_known_ground_truth():
    known, changed = changed_places(np.array([0.0, 0.05, 0.06, np.nan, 1.0]))
    assert known.tolist() == [True, True, True, False, True]
    assert changed.tolist() == [False, False, True, True]


def _methods(rng, n):
    older = l2_normalise(rng.normal(size=(n, 4)))
    noisy = l2_normalise(older + rng.normal(scale=0.05, size=older.shape))
    return older, noisy


def test_change_detection_scores_each_method_against_the_model_with_intervals():
    rng = np.random.default_rng(2)
    n = 40
    fraction = np.where(np.arange(n) % 4 == 0, 0.5, 0.0)
    fraction[1] = np.nan
    older, newer = _methods(rng, n)
    newer_model = newer.copy()
    newer_model[fraction > 0.05] = -older[fraction > 0.05]  # the model sees every change
    vectors = {"model": (older, newer_model), "pixels": (older, newer), "same": (older, older)}
    blocks = np.arange(n) // 5
    detection = change_detection(fraction, blocks, vectors, "model")
    assert set(detection) == {"model", "pixels", "same"}
    model = detection["model"]
    assert model["auroc"] == 1.0 and model["precision_at_k"] == 1.0
    assert model["n_changed"] == 10 and model["n_places"] == 39
    low, high = model["auroc_ci"]
    assert low <= 1.0 <= high and "model_minus_this_ci" not in model
    assert detection["same"]["auroc"] == 0.5  # every distance is 0: a coin toss
    gain_low, _ = detection["same"]["model_minus_this_ci"]
    assert gain_low > 0 and detection["same"]["model_vs_this"] == "above"
    table = detection_table(detection, {"model": "trained (fused)"})
    assert "| trained (fused) | 1.000 |" in table and "| same | 0.500 |" in table and "10 / 39" in table
    assert "(above) | 10 / 39 |" in table


def test_no_ground_truth_no_change_detection():
    vectors = {"model": (np.eye(3, dtype=np.float32),) * 2}
    assert change_detection(np.full(3, np.nan), np.zeros(3), vectors, "model") == {}


def test_undefined_figures_are_null_not_nan():
    vectors = {"model": (np.eye(3, dtype=np.float32),) * 2}
    scores = change_detection(np.zeros(3), np.array([0, 1, 2]), vectors, "model")["model"]
    assert scores["auroc"] is None and scores["precision_at_k"] is None and scores["n_changed"] == 0
    assert scores["auroc_ci"] == [None, None]
    assert "n/a" in detection_table({"model": scores}, {})


def test_the_raster_has_one_pixel_per_tile_on_the_grid_and_nodata_elsewhere():
    grid = Grid("EPSG:2154", 125.0, -50.0, 250.0, 64)
    tile_ids = ["x10_y20", "x12_y20", "x10_y23"]
    array, transform = grid_raster(tile_ids, np.array([0.1, 0.2, 0.3]), grid)
    assert array.shape == (4, 3) and array.dtype == np.float32
    for (col, row), value in zip([(10, 20), (12, 20), (10, 23)], (0.1, 0.2, 0.3)):
        xmin, ymin, xmax, ymax = grid.bounds(col, row)
        r, c = ~transform * ((xmin + xmax) / 2, (ymin + ymax) / 2)
        assert array[int(c), int(r)] == pytest.approx(value)
        assert transform * (int(r), int(c)) == pytest.approx((xmin, ymax))  # pixel corner = tile corner
    assert (array == NODATA).sum() == 12 - 3
    assert transform.a == 250.0 and transform.e == -250.0


def _pairs(fraction):
    boxes = [shapely.box(i * 10, 0, i * 10 + 10, 10) for i in range(3)]
    frame = {
        "tile_id_a": ["x0_y0", "x1_y0", "x2_y0"],
        "year_a": 2000,
        "year_b": 2015,
        "split": "test",
    }
    if fraction is not None:
        frame["changed_fraction"] = fraction
    return gpd.GeoDataFrame(frame, geometry=boxes, crs="EPSG:2154")


def test_the_layer_has_its_columns_and_empty_ground_truth_where_unknown():
    table = place_table(_pairs(None), np.array([0.2, 0.5, 0.1]), np.array([1, 3, 2]))
    assert list(table.columns) == changes.LAYER_COLUMNS + ["geometry"]
    assert table["changed_fraction"].isna().all() and table["rank"].tolist() == [1, 3, 2]
    known = place_table(_pairs([0.0, 0.7, np.nan]), np.zeros(3), np.ones(3, int))
    assert known["changed_fraction"].iloc[1] == 0.7 and np.isnan(known["changed_fraction"].iloc[2])


def test_top_lists_the_places_that_moved_most_first():
    table = place_table(_pairs([0.0, 0.7, np.nan]), np.array([0.2, 0.5, 0.1]), np.array([1, 3, 2]))
    lines = format_top(table, 2).splitlines()
    assert len(lines) == 3 and "distance" in lines[0]
    assert lines[1].split()[:5] == ["1", "x1_y0", "0.500", "3", "70%"]
    assert lines[2].split()[:4] == ["2", "x0_y0", "0.200", "1"]


def test_ranks_among_an_index_s_neighbours_are_the_exact_ranks_within_its_depth():
    rng = np.random.default_rng(2)
    older = l2_normalise(rng.normal(size=(40, 8)))
    newer = l2_normalise(older + rng.normal(scale=0.9, size=older.shape))
    exact = true_match_ranks(older, newer)
    own = np.arange(40)
    assert (ranks_among_neighbours(own, *knn(newer, older, 40)) == exact).all()  # the whole depth
    shallow = ranks_among_neighbours(own, *knn(newer, older, 5))
    assert (shallow[exact <= 5] == exact[exact <= 5]).all() and (shallow[exact > 5] == 6).all()
    assert (exact > 5).any() and (exact <= 5).any()
    scores, found = knn(newer[:1], older[[3, 7]], 5)  # fewer rows than the depth, own row missing
    assert ranks_among_neighbours(np.array([99]), scores, found).tolist() == [3]
