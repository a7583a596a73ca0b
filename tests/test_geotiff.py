"""The one GeoTIFF profile: tiled, ZSTD-compressed, RGB when three bands, for any size."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from geosiam.geotiff import block_px, geotiff_profile, parsed_crs

TRANSFORM = Affine(0.5, 0.0, 930000.0, 0.0, -0.5, 6861000.0)


def written(tmp_path, width, height, count, dtype="uint8"):
    """(block shapes, compression, colours, crs, transform) of a file written with the profile."""
    path = tmp_path / "out.tif"
    profile = geotiff_profile(width, height, count, "EPSG:2154", TRANSFORM, dtype=dtype)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((count, height, width), dtype=dtype))
    with rasterio.open(path) as src:
        return (
            set(src.block_shapes),
            src.compression.value,
            [c.name for c in src.colorinterp],
            src.crs,
            src.transform,
        )


@pytest.mark.parametrize(
    ("width", "height", "blocks"),
    [(256, 256, {(256, 256)}), (64, 64, {(64, 64)}), (2048, 1000, {(256, 256)}), (1000, 1000, {(256, 256)})],
)
def test_images_are_tiled_in_square_blocks_of_at_most_256_px(tmp_path, width, height, blocks):
    shapes, compression, colours, crs, transform = written(tmp_path, width, height, 3)
    assert shapes == blocks and compression == "ZSTD" and colours == ["red", "green", "blue"]
    assert crs == "EPSG:2154" and transform == TRANSFORM


def test_a_side_that_no_block_fits_is_written_in_strips(tmp_path):
    assert block_px(100, 40) is None and not geotiff_profile(100, 40, 1, "EPSG:2154", TRANSFORM)["tiled"]
    shapes, compression, colours, _, _ = written(tmp_path, 100, 40, 1)
    assert all(width == 100 for _, width in shapes) and compression == "ZSTD" and colours == ["gray"]


def test_the_crs_is_parsed_once_per_process():
    assert parsed_crs("EPSG:2154") is parsed_crs("EPSG:2154")
    assert parsed_crs("EPSG:2154").to_epsg() == 2154


def test_floats_get_the_floating_point_predictor(tmp_path):
    assert geotiff_profile(64, 64, 1, "EPSG:2154", TRANSFORM, dtype="float32")["predictor"] == 3
    assert geotiff_profile(64, 64, 1, "EPSG:2154", TRANSFORM)["predictor"] == 2
    shapes, compression, _, _, _ = written(tmp_path, 64, 64, 1, dtype="float32")
    with rasterio.open(tmp_path / "out.tif") as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "3" and compression == "ZSTD"
