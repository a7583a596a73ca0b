import dataclasses

import numpy as np
import pytest

from geosiam.config import TrainSettings
from geosiam.errors import ModelError
from geosiam.model.data import resize_images, resize_masks
from geosiam.model.embedder import load_embedder, untrained_embedder
from geosiam.model.siamese import NO_LABELS

SETTINGS = TrainSettings(backbone="mobilenetv3small", weights="none", descriptor_dim=8, workers=1, seed=4)
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def embedder():
    return untrained_embedder(SETTINGS, 9, 32)


def test_embed_returns_unit_float32_rows_and_resizes_larger_tiles(embedder):
    images = RNG.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    masks = RNG.integers(0, 9, (5, 64, 64), dtype=np.uint8)
    out = embedder.embed(images, masks, batch_size=2)
    assert out.shape == (5, 8) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    small = embedder.embed(resize_images(images, 32), resize_masks(masks, 32), batch_size=4)
    np.testing.assert_allclose(out, small, atol=1e-5)
    assert embedder.embed(images[:0], masks[:0]).shape == (0, 8)


def test_untrained_embedders_are_seeded(embedder):
    again = untrained_embedder(SETTINGS, 9, 32)
    assert again.identity == embedder.identity and again.identity.startswith("untrained-")
    images = RNG.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    masks = RNG.integers(0, 9, (2, 32, 32), dtype=np.uint8)
    np.testing.assert_allclose(again.embed(images, masks), embedder.embed(images, masks), atol=1e-6)


def test_a_fused_model_embeds_tiles_without_masks_apart_from_background(embedder):
    images = RNG.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    alone = embedder.embed(images, None)
    np.testing.assert_allclose(
        alone, embedder.embed(images, np.full((3, 32, 32), NO_LABELS, np.uint8)), atol=1e-6
    )
    background = embedder.embed(images, np.zeros((3, 32, 32), np.uint8))
    assert np.abs(alone - background).max() > 1e-3  # no labels is not class 0
    mixed = np.zeros((3, 32, 32), np.uint8)
    mixed[1] = NO_LABELS  # one tile without labels among tiles with
    np.testing.assert_allclose(embedder.embed(images, mixed)[1], alone[1], atol=1e-5)


def test_a_mask_only_model_needs_masks():
    mask_only = untrained_embedder(dataclasses.replace(SETTINGS, mask_only=True), 9, 32)
    masks = RNG.integers(0, 9, (2, 32, 32), dtype=np.uint8)
    images = RNG.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    out = mask_only.embed(images, masks)
    np.testing.assert_allclose(out, mask_only.embed(255 - images, masks), atol=1e-6)  # blind to images
    with pytest.raises(ModelError, match="mask-only model was given tiles without labels"):
        mask_only.embed(images, None)


def test_bad_inputs_are_model_errors(embedder):
    images = RNG.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ModelError, match="class id 12"):
        embedder.embed(images, np.full((2, 32, 32), 12, np.uint8))
    with pytest.raises(ModelError, match="uint8"):
        embedder.embed(images.astype(np.float32), None)


def test_loading_a_run_without_a_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no trained model"):
        load_embedder(tmp_path)
