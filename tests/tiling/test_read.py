"""Reading workspace tiles and masks into arrays: values, resampling rules, one-line errors."""

import re

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geosiam.errors import SourceError
from geosiam.tiling.read import read_many, read_mask, read_tile


def write(path, data, dtype="uint8"):
    data = np.asarray(data, dtype=dtype)
    count, height, width = data.shape
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs="EPSG:2154")
    with rasterio.open(path, "w", transform=from_origin(0, 40, 10, 10), **profile) as dst:
        dst.write(data)
    return path


def test_a_tile_reads_as_height_width_rgb_and_averages_when_resized(tmp_path):
    rgb = np.zeros((3, 4, 4), np.uint8)
    rgb[0] = [[0, 100, 10, 10]] * 4  # pairs of columns average to 50 and 10
    rgb[1], rgb[2] = 7, 200
    path = write(tmp_path / "t.tif", rgb)
    np.testing.assert_array_equal(read_tile(path), np.moveaxis(rgb, 0, -1))
    half = read_tile(path, 2)
    assert half.shape == (2, 2, 3) and half.dtype == np.uint8
    np.testing.assert_array_equal(half[..., 0], [[50, 10], [50, 10]])


def test_a_mask_is_resized_with_nearest_only(tmp_path):
    ids = np.array([[[1, 1, 9, 9]] * 4], np.uint8)
    path = write(tmp_path / "m.tif", ids)
    small = read_mask(path, 2)
    assert set(np.unique(small)) <= {1, 9} and small.tolist() == [[1, 9], [1, 9]]  # never 5


def test_many_tiles_stack_with_or_without_masks(tmp_path):
    tiles = [write(tmp_path / f"t{i}.tif", np.full((3, 4, 4), i, np.uint8)) for i in range(3)]
    masks = [write(tmp_path / f"m{i}.tif", np.full((1, 4, 4), i, np.uint8)) for i in range(3)]
    rgb, ids = read_many(tiles, masks)
    assert rgb.shape == (3, 4, 4, 3) and ids.shape == (3, 4, 4) and ids[2, 0, 0] == 2
    assert read_many(tiles, None)[1] is None


def test_bad_tiles_are_one_line_errors_naming_the_file(tmp_path):
    grey = write(tmp_path / "grey.tif", np.zeros((1, 4, 4)))
    with pytest.raises(SourceError, match=re.escape(f"{grey} has 1 band(s), an RGB tile needs 3")):
        read_tile(grey)
    wide = write(tmp_path / "wide.tif", np.zeros((3, 4, 4)), dtype="uint16")
    with pytest.raises(SourceError, match=re.escape(f"{wide} is uint16, tiles must be uint8")):
        read_tile(wide)
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff")
    with pytest.raises(SourceError, match=re.escape(f"cannot read tile {broken}")):
        read_tile(broken)
    with pytest.raises(SourceError, match=re.escape(f"cannot read mask {broken}")):
        read_mask(broken)
