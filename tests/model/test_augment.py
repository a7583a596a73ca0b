import keras
import numpy as np
import pytest

from geosiam.config import TrainSettings
from geosiam.model.augment import (
    BRIGHTNESS,
    CONTRAST,
    DRAWS,
    GEOMETRY,
    LUMINANCE,
    ColourJitter,
    TurnFlip,
    draw_augment,
    geometric,
)
from geosiam.model.siamese import (
    build_embedding_model,
    build_siamese_model,
    default_colours,
    descriptors_head,
)


def jitter_numpy(image: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """The reference of :class:`ColourJitter` for one (H, W, 3) uint8 image, in numpy."""
    contrast, brightness, gains, grey = draws[0], draws[1], draws[2:5], draws[5]  # no geometry
    x = np.floor(np.clip((image.astype(np.float32) - 128.0) * contrast * gains + 128.0 + brightness, 0, 255))
    if grey > 0.5:
        x = np.repeat(np.round(x @ np.asarray(LUMINANCE, np.float32))[..., None], 3, axis=-1)
    return x.astype(np.uint8)


def _images(n=6, px=8):
    return np.random.default_rng(0).integers(0, 256, (n, px, px, 3), dtype=np.uint8)


def _draws(rng, n, greyscale=0.0):
    return draw_augment(rng, rng.integers(8, size=n), greyscale)


def test_jitter_in_the_step_matches_the_numpy_reference():
    images = _images()
    draws = _draws(np.random.default_rng(1), len(images), greyscale=0.5)
    out = keras.ops.convert_to_numpy(ColourJitter()(images, draws, training=True))
    assert out.dtype == np.uint8 and out.shape == images.shape
    expected = np.stack([jitter_numpy(image, row) for image, row in zip(images, draws)])
    difference = np.abs(out.astype(int) - expected)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01  # float rounding at .0 edges only
    assert not np.array_equal(out, images)


def test_grey_draws_give_the_luminance_in_all_three_channels():
    pixel = np.array([[[[200, 100, 50]]]], np.uint8)
    identity_grey = np.array([[1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]], np.float32)
    out = keras.ops.convert_to_numpy(ColourJitter()(pixel, identity_grey, training=True))
    assert out.tolist() == [[[[124, 124, 124]]]]


def test_jitter_is_monotonic_per_channel_and_off_at_inference():
    images = _images(n=1, px=16)
    draws = _draws(np.random.default_rng(2), 1)
    out = keras.ops.convert_to_numpy(ColourJitter()(images, draws, training=True))[0]
    order = np.argsort(images[0, ..., 0], axis=None, kind="stable")
    assert (np.diff(out[..., 0].ravel()[order].astype(int)) >= 0).all()
    untouched = keras.ops.convert_to_numpy(ColourJitter()(images, draws, training=False))
    np.testing.assert_array_equal(untouched, images)


def test_turns_and_flips_are_the_eight_of_the_square_for_images_and_masks_alike():
    images = _images(n=8, px=6)
    masks = images[..., 0] // 32
    draws = draw_augment(np.random.default_rng(3), np.arange(8), 0.0)
    moved = keras.ops.convert_to_numpy(TurnFlip()(images, draws, training=True))
    moved_masks = keras.ops.convert_to_numpy(TurnFlip()(masks, draws, training=True))
    for code in range(8):
        np.testing.assert_array_equal(moved[code], geometric(images[code], code))
        np.testing.assert_array_equal(moved_masks[code], geometric(masks[code], code))
    assert len({m.tobytes() for m in (geometric(images[0], code) for code in range(8))}) == 8
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(TurnFlip()(images, draws)), images)


def test_draws_have_the_statistics_of_the_former_numpy_jitter():
    geometry = np.random.default_rng(4).integers(8, size=20000)
    draws = draw_augment(np.random.default_rng(3), geometry, greyscale=0.2)
    assert draws.shape == (20000, DRAWS) and (draws[:, GEOMETRY] == geometry).all()
    assert CONTRAST[0] <= draws[:, 0].min() and draws[:, 0].max() <= CONTRAST[1]
    assert BRIGHTNESS[0] <= draws[:, 1].min() and draws[:, 1].max() <= BRIGHTNESS[1]
    assert draws[:, 2:5].mean() == pytest.approx(1.0, abs=0.005)
    assert draws[:, 5].mean() == pytest.approx(0.2, abs=0.01)


def test_the_training_model_embeds_each_couple_as_its_numpy_augmented_tiles():
    """The wiring of the augmentation in build_siamese_model: each side's turn and flip moves its
    image and mask alike, the jitter its image only, before the shared embedding (batch norm in
    training mode in both, on the same batches)."""
    px, classes, n = 32, 5, 4
    train = TrainSettings(backbone="mobilenetv3small", weights="none", input_px=px, descriptor_dim=8)
    embedding = build_embedding_model(train, classes, px, default_colours(classes))
    siamese = build_siamese_model(embedding, descriptors_head, augment=True)
    rng = np.random.default_rng(5)
    geometry, inputs, expected = rng.integers(8, size=n), {}, []
    for side in ("anchor", "other"):
        images = rng.integers(0, 256, (n, px, px, 3), dtype=np.uint8)
        masks = rng.integers(0, classes, (n, px, px), dtype=np.uint8)
        draws = draw_augment(rng, geometry, greyscale=0.5)
        inputs |= {f"{side}_image": images, f"{side}_mask": masks, f"{side}_augment": draws}
        moved = {
            "image": np.stack([jitter_numpy(geometric(i, g), d) for i, g, d in zip(images, geometry, draws)]),
            "mask": np.stack([geometric(m, g) for m, g in zip(masks, geometry)]),
        }
        expected.append(keras.ops.convert_to_numpy(embedding(moved, training=True)))
    out = keras.ops.convert_to_numpy(siamese(inputs, training=True))
    np.testing.assert_allclose(out, np.concatenate(expected, axis=1), atol=2e-3)
    unmoved = {"image": inputs["anchor_image"], "mask": inputs["anchor_mask"]}
    assert np.abs(out[:, :8] - keras.ops.convert_to_numpy(embedding(unmoved, training=True))).max() > 0.1
