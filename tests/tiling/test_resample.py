"""Levels, alignment and the separable area resize (pure functions)."""

import numpy as np
import pytest
from affine import Affine

from geosiam.config import Settings, from_dict
from geosiam.errors import SettingsError
from geosiam.tiling import resample
from geosiam.tiling.chunks import chunk_tiles
from geosiam.tiling.grid import Grid


@pytest.mark.parametrize(
    ("decimation", "oversampling", "expected"),
    [
        (7.8125, 0.05, 8),
        (7.8125, 0.0, 4),
        (7.8125, 0.02, 4),
        (19.53, 0.05, 16),
        (1.95, 0.05, 2),
        (0.5, 0.05, 1),
    ],
)
def test_level_factor_is_the_coarsest_level_within_the_oversampling(decimation, oversampling, expected):
    assert resample.level_factor(decimation, [2, 4, 8, 16, 32], oversampling) == expected


def test_level_factor_without_overviews_is_full_resolution():
    assert resample.level_factor(7.8125, [], 0.05) == 1


def test_oversampling_setting_is_checked():
    assert from_dict(Settings, {"prepare": {"oversampling": 0.1}}).prepare.oversampling == 0.1
    with pytest.raises(SettingsError, match="oversampling"):
        from_dict(Settings, {"prepare": {"oversampling": -0.1}})


def test_jpeg2000_levels_are_shifted_back_and_others_are_not():
    assert resample.level_offset("JP2OpenJPEG", 8) == pytest.approx(-7 / 16)
    assert resample.level_offset("JP2OpenJPEG", 1) == 0.0
    assert resample.level_offset("GTiff", 8) == 0.0


def test_aligned_read_of_a_canvas_inside_the_source():
    src = Affine(0.5, 0, 900_000, 0, -0.5, 6_500_000)  # a 0M50 dalle, 10,000 px
    canvas = Affine(1000 / 256, 0, 901_000, 0, -1000 / 256, 6_499_000)  # 5 tiles of 1000 m
    plan = resample.aligned_read(src, (10_000, 10_000), canvas, (1280, 1280))
    assert plan == resample.AlignedRead(2000, 2000, 8000, 8000, 0, 0, 1024, 1024)


def test_aligned_read_of_a_canvas_across_the_source_border():
    src = Affine(0.5, 0, 900_000, 0, -0.5, 6_500_000)
    canvas = Affine(1000 / 256, 0, 897_000, 0, -1000 / 256, 6_501_000)
    plan = resample.aligned_read(src, (10_000, 10_000), canvas, (1280, 1280))
    # the dalle starts 3 km right and 1 km down the canvas: 768 and 256 canvas pixels in
    assert plan == resample.AlignedRead(0, 0, 4000, 8000, 768, 256, 512, 1024)


def test_aligned_read_refuses_grids_off_by_a_fraction_of_a_pixel_and_skips_disjoint_ones():
    src = Affine(0.5, 0, 900_000.25, 0, -0.5, 6_500_000)
    canvas = Affine(1000 / 256, 0, 901_000, 0, -1000 / 256, 6_499_000)
    assert resample.aligned_read(src, (10_000, 10_000), canvas, (1280, 1280)) is None
    rotated = Affine(0.5, 0.1, 900_000, 0, -0.5, 6_500_000)
    assert resample.aligned_read(rotated, (10_000, 10_000), canvas, (1280, 1280)) is None
    far = Affine(0.5, 0, 800_000, 0, -0.5, 6_500_000)
    assert resample.aligned_read(far, (10_000, 10_000), canvas, (1280, 1280)).width == 0


def test_area_resize_by_a_whole_factor_is_the_block_mean():
    image = np.random.default_rng(0).integers(0, 256, (3, 64, 48)).astype(np.float32)
    out = resample.area_resize(image, (16, 12))
    expected = image.reshape(3, 16, 4, 12, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_area_resize_keeps_flat_images_flat_and_means_roughly():
    flat = np.full((2, 100, 100), 37.0, np.float32)
    np.testing.assert_allclose(resample.area_resize(flat, (78, 78), offset=-0.4375), 37.0, rtol=1e-5)
    image = np.random.default_rng(1).random((100, 100)).astype(np.float32)
    assert resample.area_resize(image, (78, 78)).mean() == pytest.approx(image.mean(), abs=1e-3)


def test_area_resize_offset_moves_the_picture():
    edge = np.zeros((8, 80), np.float32)
    edge[:, 40:] = 1.0  # an edge at x = 40 input pixels
    shifted = resample.area_resize(edge, (8, 80), offset=-3.0)  # the input really starts 3 px earlier
    assert shifted[0, 36] == 0.0 and shifted[0, 37] == 1.0


def test_nearest_resize_picks_the_pixel_under_each_centre():
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    np.testing.assert_array_equal(resample.nearest_resize(image, (2, 2)), [[5, 7], [13, 15]])


@pytest.mark.parametrize(
    ("tile_m", "tile_px", "expected"), [(1000, 256, 5), (500, 256, 10), (1000, 64, 15), (300, 256, 4)]
)
def test_chunks_follow_the_5_km_dalle_grid_where_the_tile_size_divides_it(tile_m, tile_px, expected):
    assert chunk_tiles(Grid("EPSG:2154", 0, 0, tile_m, tile_px)) == expected
