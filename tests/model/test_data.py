import os
from pathlib import Path

import numpy as np
import pytest

from geosiam.errors import ModelError, TrainingError
from geosiam.model.data import (
    SLOT_LABELS,
    PairBatches,
    PairCache,
    PairFiles,
    PlaceBatches,
    colour_jitter,
    greyscale,
    hard_groups,
    load_pair_cache,
    resize_images,
    resize_masks,
)
from geosiam.model.siamese import NO_LABELS
from tests.retrieval.factory import make_workspace


def _marked_cache(n: int = 5, px: int = 8) -> PairCache:
    """Pixel (0, 0) of every image holds 10 * pair + side; the mask marks one corner."""
    images = np.full((2, n, px, px, 3), 50, np.uint8)
    masks = np.zeros((2, n, px, px), np.uint8)
    for side in (0, 1):
        for i in range(n):
            images[side, i, 0, 0] = 10 * i + side + 100
            masks[side, i, 0, 0] = 3
    return PairCache(Path("."), [str(i) for i in range(n)], images, masks)


def _files(workspace, split="train"):
    from geosiam.tiling.tables import read_pairs

    pairs = read_pairs(workspace.pairs_index, split)
    return PairFiles(
        [str(p) for p in pairs["pair_id"]],
        tuple([workspace.absolute(p) for p in pairs[f"image_{s}"]] for s in "ab"),
        tuple([workspace.absolute(p) for p in pairs[f"mask_{s}"]] for s in "ab"),
    )


def test_cache_is_built_once_reused_and_rebuilt_when_a_tile_changes(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=4, px=16, splits=["train"] * 4)
    files, root = _files(workspace), tmp_path / "cache"
    first = load_pair_cache(root, files, 16, 9)
    assert first.images.shape == (2, 4, 16, 16, 3) and first.masks.shape == (2, 4, 16, 16)
    assert isinstance(first.images, np.memmap)
    again = load_pair_cache(root, files, 16, 9)
    assert again.folder == first.folder
    stat = files.images[1][2].stat()
    os.utime(files.images[1][2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rebuilt = load_pair_cache(root, files, 16, 9)
    assert rebuilt.folder != first.folder
    assert [p.name for p in root.iterdir()] == [rebuilt.folder.name]  # the stale cache is gone
    np.testing.assert_array_equal(rebuilt.images, first.images)


def test_an_interrupted_build_leaves_no_cache_and_the_next_one_completes(tmp_path, monkeypatch):
    workspace = make_workspace(tmp_path / "ws", places=3, px=16, splits=["train"] * 3)
    files, root = _files(workspace), tmp_path / "cache"
    from geosiam.tiling import read

    real, calls = read.read_mask, []

    def failing(path, size=None):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, size)

    monkeypatch.setattr(read, "read_mask", failing)
    with pytest.raises(KeyboardInterrupt):
        load_pair_cache(root, files, 16, 9)
    assert list(root.iterdir()) == []
    monkeypatch.setattr(read, "read_mask", real)
    assert len(load_pair_cache(root, files, 16, 9)) == 3


def test_masks_with_unknown_class_ids_are_refused(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=2, px=16, splits=["train"] * 2)
    with pytest.raises(ModelError, match="class id"):
        load_pair_cache(tmp_path / "cache", _files(workspace), 16, 2)


def test_batches_mix_positives_random_and_hard_negatives_never_the_anchor_itself():
    cache = _marked_cache(n=5)
    batches = PairBatches(cache, anchors_per_batch=3, seed=1, augment=False)
    batches.hard_negatives = np.full((2, 5, 2), -1, np.int32)
    batches.hard_negatives[:, :, 0] = (np.arange(5) + 2) % 5  # anchor i's hard negative: i + 2
    seen_anchors = set()
    for index in range(len(batches)):
        inputs, labels = batches[index]
        assert labels[:, 0].tolist() == list(SLOT_LABELS) * 3
        anchor_code = inputs["anchor_image"][:, 0, 0, 0].astype(int) - 100
        other_code = inputs["other_image"][:, 0, 0, 0].astype(int) - 100
        anchor_pair, anchor_side = anchor_code // 10, anchor_code % 10
        other_pair, other_side = other_code // 10, other_code % 10
        assert (other_side == 1 - anchor_side).all()  # partners come from the other year
        same = other_pair == anchor_pair
        assert (same == (labels[:, 0] == 1)).all()  # positives are the same place, negatives never
        np.testing.assert_array_equal(other_pair[3::4], (anchor_pair[3::4] + 2) % 5)  # hard slot
        seen_anchors |= set(zip(anchor_pair.tolist(), anchor_side.tolist()))
    assert len(seen_anchors) == 10  # both years of every pair are anchors in one epoch


def _decode(batch):
    """(pair, side) of every anchor and other tile of a batch of marked tiles."""
    codes = [batch[f"{name}_image"][:, 0, 0, 0].astype(int) - 100 for name in ("anchor", "other")]
    return [(code // 10, code % 10) for code in codes]


def test_place_batches_hold_distinct_places_and_every_anchor_once_per_epoch():
    cache = _marked_cache(n=7)
    batches = PlaceBatches(cache, 3, seed=2, augment=False)
    assert len(batches) == 2 * 3  # both years, three runs of 3 places each
    anchors = []
    for index in range(len(batches)):
        inputs, labels = batches[index]
        (anchor_pair, anchor_side), (other_pair, other_side) = _decode(inputs)
        assert len(set(anchor_pair.tolist())) == 3 and labels.shape == (3, 1)
        np.testing.assert_array_equal(other_pair, anchor_pair)  # row i: one place in both years
        assert (anchor_side == index % 2).all() and (other_side == 1 - anchor_side).all()
        anchors += list(zip(anchor_pair.tolist(), anchor_side.tolist()))
    assert set(anchors) == {(i, s) for i in range(7) for s in (0, 1)}


def test_hard_groups_put_each_hard_anchor_with_its_neighbours_and_every_place_once():
    hard = np.full((8, 2), -1, np.int32)
    hard[3] = [6, 1]
    hard[5] = [0, -1]
    order = hard_groups(np.random.default_rng(0), hard)
    assert sorted(order.tolist()) == list(range(8))
    groups = {3: [3, 6, 1], 5: [5, 0]}
    assert order[:5].tolist() in (groups[3] + groups[5], groups[5] + groups[3])  # hard anchors first


def test_mining_composes_batches_of_anchors_and_their_hard_neighbours():
    cache = _marked_cache(n=12)
    batches = PlaceBatches(cache, 4, seed=0, augment=False)
    before = [batches.places(i)[1].tolist() for i in range(len(batches))]
    hard = np.full((2, 12, 3), -1, np.int32)
    hard[0, 2] = [9, 5, 11]  # the year-0 tile of place 2 is nearest to the year-1 tiles of 9, 5, 11
    batches.hard_negatives = hard
    batch = next(rows for side, rows in map(batches.places, range(len(batches))) if side == 0 and 2 in rows)
    assert sorted(batch.tolist()) == [2, 5, 9, 11]
    assert [batches.places(i)[1].tolist() for i in range(len(batches))] != before
    batches.epoch = 1  # the next epoch is drawn again, still grouped
    batch = next(rows for side, rows in map(batches.places, range(len(batches))) if side == 0 and 2 in rows)
    assert sorted(batch.tolist()) == [2, 5, 9, 11]


def test_batches_of_more_places_than_the_split_holds_are_refused():
    with pytest.raises(TrainingError, match="--batch-anchors between 2 and 5"):
        PlaceBatches(_marked_cache(n=5), 6, seed=0, augment=False)


@pytest.mark.parametrize("layout", [PairBatches, PlaceBatches])
def test_batches_depend_on_seed_epoch_and_index_only(layout):
    cache = _marked_cache()
    a = layout(cache, 2, seed=3, augment=True, inputs=("image",))
    b = layout(cache, 2, seed=3, augment=True, inputs=("image",), workers=2)
    (first, _), (same, _) = a[1], b[1]
    assert set(first) == {"anchor_image", "other_image"}  # image-only batches carry no masks
    for name in first:
        np.testing.assert_array_equal(first[name], same[name])
    b.epoch = 1
    assert not np.array_equal(b[1][0]["anchor_image"], first["anchor_image"])


def test_augmentation_moves_image_mask_and_partner_together():
    px = 8
    cache = _marked_cache(n=4, px=px)
    batches = PairBatches(cache, 4, seed=0, augment=True)
    inputs, _ = batches[0]
    corners = set()
    for i in range(len(inputs["anchor_image"])):
        positions = []
        for side in ("anchor", "other"):
            bright = np.unravel_index(inputs[f"{side}_image"][i, ..., 0].argmax(), (px, px))
            marked = np.unravel_index(inputs[f"{side}_mask"][i].argmax(), (px, px))
            assert bright == marked
            positions.append(marked)
        assert positions[0] == positions[1]
        corners.add(positions[0])
    assert len(corners) > 1  # the transforms did move things


def test_colour_jitter_changes_the_image_within_range():
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    jittered = colour_jitter(np.random.default_rng(1), image)
    assert jittered.dtype == np.uint8 and jittered.shape == image.shape
    assert not np.array_equal(jittered, image)
    order = np.argsort(image[..., 0], axis=None, kind="stable")
    assert (np.diff(jittered[..., 0].ravel()[order].astype(int)) >= 0).all()  # monotonic


def test_mask_dropout_removes_the_mask_of_one_side_of_some_couples():
    cache = _marked_cache(n=8)
    batches = PlaceBatches(cache, 8, seed=0, augment=False, mask_dropout=0.5)
    dropped_sides = []
    for index in range(len(batches)):
        inputs, _ = batches[index]
        absent = {
            side: (inputs[f"{side}_mask"] == NO_LABELS).all(axis=(1, 2)) for side in ("anchor", "other")
        }
        assert not (absent["anchor"] & absent["other"]).any()  # one side at most
        dropped_sides += [int(a) - int(o) for a, o in zip(absent["anchor"], absent["other"]) if a or o]
    assert 2 <= len(dropped_sides) <= 14 and {-1, 1} <= set(dropped_sides)
    inputs, _ = PlaceBatches(cache, 8, seed=0, augment=False)[0]
    assert not (inputs["anchor_mask"] == NO_LABELS).any()


def test_random_greyscale_turns_some_images_grey_and_keeps_masks():
    cache = _marked_cache(n=8)
    rng = np.random.default_rng(0)
    cache.images[...] = rng.integers(0, 256, cache.images.shape, dtype=np.uint8)
    inputs, _ = PlaceBatches(cache, 8, seed=0, augment=True, greyscale=0.5)[0]
    grey = [
        (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
        for image in np.concatenate([inputs["anchor_image"], inputs["other_image"]])
    ]
    assert 2 <= sum(grey) <= 14
    pixel = np.array([[[200, 100, 50]]], np.uint8)
    assert greyscale(pixel).tolist() == [[[124, 124, 124]]]


def test_a_year_without_labels_is_cached_as_no_labels_and_its_masks_never_read(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=3, px=16, splits=["train"] * 3)
    files = _files(workspace)
    for path in files.masks[0]:
        path.unlink()  # masks/<older>/ deleted
    files = PairFiles(files.pair_ids, files.images, ([None] * 3, files.masks[1]))
    cache = load_pair_cache(tmp_path / "cache", files, 16, 9)
    assert (cache.masks[0] == NO_LABELS).all() and (cache.masks[1] < 9).all()


def test_resizing_averages_images_and_keeps_mask_ids():
    images = np.zeros((1, 4, 4, 3), np.uint8)
    images[0, :2, :2] = 200
    np.testing.assert_array_equal(resize_images(images, 2)[0, ..., 0], [[200, 0], [0, 0]])
    assert resize_images(np.full((2, 6, 6, 3), 7, np.uint8), 4).tolist() == np.full((2, 4, 4, 3), 7).tolist()
    masks = np.random.default_rng(0).integers(0, 4, (2, 9, 9)).astype(np.uint8)
    small = resize_masks(masks, 4)
    assert small.shape == (2, 4, 4) and set(np.unique(small)) <= set(np.unique(masks))


def test_too_few_pairs_for_negatives_is_an_error():
    cache = _marked_cache(n=1)
    with pytest.raises(TrainingError, match="at least 2"):
        PairBatches(cache, 2, seed=0, augment=False)
