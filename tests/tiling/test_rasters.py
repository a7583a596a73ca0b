"""Describing source rasters once: bounds in the grid CRS, bands, the stretch of 16-bit data."""

import numpy as np
import pytest
import rasterio

from geosiam.errors import SourceError
from geosiam.sources.sourceset import YearSources
from geosiam.tiling.rasters import UnreadableRaster, inspect, inspect_all, to_uint8
from tests.synthetic import write_raster

BOUNDS = (930000, 6860000, 931000, 6861000)


def record(*paths):
    return YearSources(2015, tuple(paths))


def test_a_raster_is_described_in_the_grid_crs(tmp_path):
    path = write_raster(tmp_path / "a.tif", BOUNDS, 2.0)
    info = inspect(record(path), path, "EPSG:2154")
    assert info.bounds == pytest.approx(BOUNDS) and info.pixel_size == pytest.approx(2.0)
    assert info.bands == (1, 2, 3) and info.stretch is None
    other = inspect(record(path), path, "EPSG:4326")  # another grid CRS: its bounds in degrees
    assert 6.0 < other.bounds[0] < other.bounds[2] < 7.0 and 48.0 < other.bounds[1] < other.bounds[3] < 49.0


def test_sixteen_bit_data_is_stretched_2_to_98_percent_and_uint8_is_not(tmp_path):
    path = write_raster(tmp_path / "a.tif", BOUNDS, 10.0, dtype="uint16")
    info = inspect(record(path), path, "EPSG:2154", bands=(3, 2, 1))
    assert info.bands == (3, 2, 1) and len(info.stretch) == 3
    with rasterio.open(path) as src:
        band3 = src.read(3)
    low, high = np.percentile(band3, (2, 98))
    assert info.stretch[0] == pytest.approx((low, high), rel=0.05)  # read from a coarse level
    samples = np.array([[[low]], [[high]], [[0.0]]], np.float32)
    stretched = to_uint8(samples, ((low, high),) * 3)
    np.testing.assert_allclose(stretched[:, 0, 0], [0.0, 255.0, 0.0], atol=1e-3)
    assert to_uint8(np.array([[[7]]], np.uint8), None).dtype == np.float32


def test_one_band_reads_as_grey_and_missing_bands_are_an_error(tmp_path):
    grey = tmp_path / "grey.tif"
    with rasterio.open(write_raster(tmp_path / "rgb.tif", BOUNDS, 10.0)) as src:
        profile = src.profile | {"count": 1}
        with rasterio.open(grey, "w", **profile) as dst:
            dst.write(src.read(1), 1)
    assert inspect(record(grey), grey, "EPSG:2154", bands=(3, 2, 1)).bands == (1, 1, 1)
    rgb = tmp_path / "rgb.tif"
    with pytest.raises(SourceError, match=r"has 3 bands, cannot read bands \[4, 2, 1\].*--bands R,G,B"):
        inspect(record(rgb), rgb, "EPSG:2154", bands=(4, 2, 1))


def test_unreadable_rasters_are_listed_and_the_others_described(tmp_path):
    good = write_raster(tmp_path / "good.tif", BOUNDS, 10.0)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00 not a tiff")
    with pytest.raises(UnreadableRaster, match="bad.tif"):
        inspect(record(bad), bad, "EPSG:2154")
    infos, unreadable = inspect_all([record(good, bad)], "EPSG:2154")
    assert [i.path for i in infos] == [good]
    assert len(unreadable) == 1 and unreadable[0].startswith(str(bad))
    no_crs = write_raster(tmp_path / "nocrs.tif", BOUNDS, 10.0, crs=None)
    with pytest.raises(SourceError, match="has no CRS: georeference it"):
        inspect(record(no_crs), no_crs, "EPSG:2154")
