from pathlib import Path

import numpy as np
import pytest

from geosiam.errors import TrainingError
from geosiam.model.augment import GEOMETRY
from geosiam.model.cache import PairCache
from geosiam.model.data import (
    SLOT_LABELS,
    PairBatches,
    PlaceBatches,
    hard_groups,
    resize_images,
    resize_masks,
)
from geosiam.model.siamese import NO_LABELS


def _marked_cache(n: int = 5, px: int = 8) -> PairCache:
    """Pixel (0, 0) of every image holds 10 * pair + side; the mask marks one corner."""
    images = np.full((2, n, px, px, 3), 50, np.uint8)
    masks = np.zeros((2, n, px, px), np.uint8)
    for side in (0, 1):
        for i in range(n):
            images[side, i, 0, 0] = 10 * i + side + 100
            masks[side, i, 0, 0] = 3
    return PairCache(Path("."), [str(i) for i in range(n)], images, masks)


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
    assert set(first) == {"anchor_image", "other_image", "anchor_augment", "other_augment"}  # no masks
    for name in first:
        np.testing.assert_array_equal(first[name], same[name])
    b.epoch = 1
    assert not np.array_equal(b[1][0]["anchor_image"], first["anchor_image"])


@pytest.mark.parametrize("layout", [PairBatches, PlaceBatches])
def test_each_host_feeds_its_consecutive_share_of_the_batch_one_host_would_feed(layout):
    """Several hosts: process i of n gets the i-th n-th of the whole batch's rows (tiles, masks,
    draws, labels), and the shares in process order are that batch."""
    cache = _marked_cache(n=8)
    options = dict(seed=4, augment=True, greyscale=0.5, mask_dropout=0.5)
    whole = layout(cache, 4, **options)
    hosts = [layout(cache, 4, host=(i, 2), **options) for i in range(2)]
    for batches in (whole, *hosts):
        batches.hard_negatives = np.tile(((np.arange(8) + 3) % 8)[None, :, None], (2, 1, 1)).astype(np.int32)
        batches.epoch = 1
    for index in range(len(whole)):
        inputs, labels = whole[index]
        shares = [batches[index] for batches in hosts]
        assert [len(share_labels) for _, share_labels in shares] == [len(labels) // 2] * 2
        np.testing.assert_array_equal(np.concatenate([share_labels for _, share_labels in shares]), labels)
        for name, rows in inputs.items():
            np.testing.assert_array_equal(np.concatenate([share[name] for share, _ in shares]), rows)
    assert len({len(whole), *map(len, hosts)}) == 1


def test_a_couple_shares_one_turn_and_flip_and_each_image_has_its_colour_draws():
    inputs, _ = PairBatches(_marked_cache(n=4), 4, seed=0, augment=True)[0]
    anchor, other = inputs["anchor_augment"], inputs["other_augment"]
    np.testing.assert_array_equal(anchor[:, GEOMETRY], other[:, GEOMETRY])
    assert len(set(anchor[:, GEOMETRY])) > 1 and not np.array_equal(anchor[:, 0], other[:, 0])


def test_workers_send_uint8_rows_of_the_cache_and_draws_not_moved_or_jittered_pixels():
    cache = _marked_cache(n=4)
    inputs, _ = PairBatches(cache, 4, seed=0, augment=True, greyscale=0.5)[0]
    assert {k: v.dtype for k, v in inputs.items() if not k.endswith("augment")} == dict.fromkeys(
        ("anchor_image", "other_image", "anchor_mask", "other_mask"), np.uint8
    )
    assert inputs["anchor_augment"].shape == (16, 7) and inputs["anchor_augment"].dtype == np.float32
    rows = [
        int(np.flatnonzero(cache.images[:, :, 0, 0, 0].ravel() == v)[0])
        for v in inputs["anchor_image"][:, 0, 0, 0]
    ]
    np.testing.assert_array_equal(
        inputs["anchor_image"], cache.images.reshape(-1, 8, 8, 3)[rows]
    )  # as cached
    batches = PairBatches(cache, 4, seed=0, augment=True)
    assert set(inputs) == batches.input_names
    plain = PairBatches(cache, 4, seed=0, augment=False, inputs=("mask",))
    assert set(plain[0][0]) == plain.input_names == {"anchor_mask", "other_mask"}


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


def test_random_greyscale_draws_turn_the_asked_share_grey():
    cache = _marked_cache(n=8)
    inputs, _ = PlaceBatches(cache, 8, seed=0, augment=True, greyscale=0.5)[0]
    grey = np.concatenate([inputs["anchor_augment"][:, 5], inputs["other_augment"][:, 5]])
    assert 2 <= grey.sum() <= 14 and set(grey) == {0.0, 1.0}


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


@pytest.mark.parametrize("layout", [PairBatches, PlaceBatches])
def test_a_resumed_run_sees_the_batches_and_colour_draws_of_an_uninterrupted_one(layout):
    cache = _marked_cache(n=6)
    uninterrupted = layout(cache, 4, seed=5, augment=True, greyscale=0.3, mask_dropout=0.3)
    for index in range(len(uninterrupted)):
        uninterrupted[index]  # epoch 0 drawn first
    uninterrupted.epoch = 1
    resumed = layout(cache, 4, seed=5, augment=True, greyscale=0.3, mask_dropout=0.3)
    resumed.epoch = 1  # what the BatchEpoch callback sets when a run resumes at epoch 1
    for index in reversed(range(len(resumed))):  # any worker order
        (expected, _), (got, _) = uninterrupted[index], resumed[index]
        assert set(expected) == set(got)
        for name in expected:
            np.testing.assert_array_equal(expected[name], got[name])
