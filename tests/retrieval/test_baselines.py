"""Raw-pixel baselines: block means, invariances, shapes and the class-id check."""

import numpy as np
import pytest

from geosiam.errors import WorkspaceError
from geosiam.retrieval.baselines import (
    block_mean,
    mask_descriptors,
    rgb_descriptors,
    rgb_mask_descriptors,
)


def textures(n, px=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 200, (n, px, px, 3), dtype=np.uint8)


def test_block_mean_averages_uneven_blocks():
    arrays = np.arange(5 * 7, dtype=float).reshape(1, 5, 7, 1)
    out = block_mean(arrays, 2)
    assert out.shape == (1, 2, 2, 1)
    assert out[0, 0, 0, 0] == pytest.approx(arrays[0, :2, :3, 0].mean())
    assert out[0, 1, 1, 0] == pytest.approx(arrays[0, 2:, 3:, 0].mean())


def test_block_mean_caps_cells_at_the_array_size():
    assert block_mean(np.ones((2, 3, 3, 1)), 16).shape == (2, 3, 3, 1)


def test_rgb_descriptors_are_unit_and_blind_to_a_brightness_shift():
    images = textures(3)
    brighter = images + np.uint8(40)
    a, b = rgb_descriptors(images), rgb_descriptors(brighter)
    assert a.shape == (3, 16 * 16 * 3) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert np.allclose(a, b, atol=1e-5)
    assert (a @ a.T)[0, 1] < 0.5  # different places differ


def test_rgb_descriptors_process_many_tiles_in_chunks_identically():
    images = textures(150)
    whole = rgb_descriptors(images)
    assert np.allclose(whole[140], rgb_descriptors(images[140:141])[0], atol=1e-6)


def test_mask_descriptors_are_class_shares_per_cell():
    masks = np.zeros((1, 4, 4), dtype=np.uint8)
    masks[0, :2, :2] = 2
    vector = mask_descriptors(masks, num_classes=3, cells=2).reshape(2, 2, 3)
    assert vector[0, 0].argmax() == 2 and vector[1, 1].argmax() == 0
    assert vector[0, 0, 1] == 0


def test_mask_descriptors_refuse_ids_beyond_the_class_table():
    with pytest.raises(WorkspaceError, match="class id 9 .* 4 classes"):
        mask_descriptors(np.full((1, 4, 4), 9, dtype=np.uint8), num_classes=4)


def test_rgb_mask_descriptors_weigh_both_halves_equally():
    images = textures(2)
    masks = np.random.default_rng(1).integers(0, 5, (2, 32, 32), dtype=np.uint8)
    both = rgb_mask_descriptors(images, masks, 5)
    rgb_part = both[:, : 16 * 16 * 3]
    assert both.shape == (2, 16 * 16 * 3 + 16 * 16 * 5)
    assert np.linalg.norm(rgb_part, axis=1) == pytest.approx([2**-0.5] * 2, abs=1e-5)
