"""Per-year mosaics (VRT) and the class palette in masks, as GDAL and QGIS read them."""

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio

from geosiam.rasterize.classes import load_classes
from geosiam.rasterize.masks import write_mask
from geosiam.tiling.cut import write_tile
from geosiam.tiling.grid import Grid
from geosiam.tiling.mosaics import Placed, write_mosaic
from geosiam.tiling.palette import Palette
from tests.qgis_desktop import qgis_open

GRID = Grid("EPSG:2154", 0.0, 0.0, 250.0, 32)
CELLS = [(3720, 27440), (3721, 27440), (3722, 27441)]  # a gap at (3720..3721, 27441) and (3722, 27440)
PALETTE = load_classes().palette()


@pytest.fixture
def mosaics(tmp_path):
    images, masks = [], []
    for i, (col, row) in enumerate(CELLS):
        valid = np.ones((32, 32), bool)
        valid[:4] = False  # the top rows of each tile are nodata
        write_tile(
            tmp_path / f"tiles/x{col}_y{row}.tif",
            np.full((3, 32, 32), 10 * (i + 1), np.uint8),
            valid,
            GRID,
            col,
            row,
        )
        write_mask(
            tmp_path / f"masks/x{col}_y{row}.tif", np.full((32, 32), i + 1, np.uint8), GRID, col, row, PALETTE
        )
        images.append(Placed(f"tiles/x{col}_y{row}.tif", col, row))
        masks.append(Placed(f"masks/x{col}_y{row}.tif", col, row))
    write_mosaic(tmp_path / "tiles_2015.vrt", images, GRID, bands=3)
    write_mosaic(tmp_path / "masks_2015.vrt", masks, GRID, bands=1, palette=PALETTE)
    return tmp_path


def test_each_tile_lies_at_its_grid_place_and_gaps_are_masked(mosaics):
    with rasterio.open(mosaics / "tiles_2015.vrt") as vrt:
        assert vrt.bounds == (930000.0, 6860000.0, 930750.0, 6860500.0) and vrt.crs == "EPSG:2154"
        assert vrt.res == (GRID.resolution, GRID.resolution) and vrt.count == 3
        pixels, valid = vrt.read(), vrt.dataset_mask()
    top, bottom = slice(0, 32), slice(32, 64)
    assert (pixels[:, bottom, 0:32] == 10).all() and (pixels[:, bottom, 32:64] == 20).all()
    assert (pixels[:, top, 64:96] == 30).all()
    assert (valid[36:64, 0:64] == 255).all() and (valid[4:32, 64:96] == 255).all()
    assert (valid[32:36, 0:64] == 0).all(), "the tiles' own nodata rows are masked"
    assert (valid[top, 0:64] == 0).all() and (valid[bottom, 64:96] == 0).all(), "gaps are masked"


def test_mask_mosaic_and_masks_carry_the_class_colours_and_names(mosaics):
    with rasterio.open(mosaics / "masks_2015.vrt") as vrt:
        assert vrt.colorinterp[0].name == "palette" and vrt.read(1)[40, 10] == 1
        assert vrt.colormap(1)[7] == (255, 0, 0, 255)
    band = ET.parse(mosaics / "masks_2015.vrt").getroot().find("VRTRasterBand")
    assert [c.text for c in band.iter("Category")][:3] == ["background", "vegetation", "water"]
    with rasterio.open(mosaics / "masks/x3720_y27440.tif") as tif:
        assert tif.colormap(1)[2] == (0, 0, 255, 255)
    sidecar = ET.parse(mosaics / "masks/x3720_y27440.tif.aux.xml").getroot()
    assert [c.text for c in sidecar.iter("Category")][7] == "building"


@pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="GDAL's command-line tools are not installed")
def test_gdalinfo_shows_the_colour_table_and_category_names(mosaics):
    for name in ("masks_2015.vrt", "masks/x3720_y27440.tif"):
        info = json.loads(
            subprocess.run(["gdalinfo", "-json", name], cwd=mosaics, capture_output=True, check=True).stdout
        )
        band = info["bands"][0]
        assert band["categories"][:2] == ["background", "vegetation"]
        assert band["colorTable"]["entries"][7] == [255, 0, 0, 255]


def test_qgis_shows_the_classes_by_name_and_colour(mosaics):
    vrt, tif = qgis_open(str(mosaics / "masks_2015.vrt"), str(mosaics / "masks/x3720_y27440.tif"))
    for shown in (vrt, tif):
        assert shown["renderer"] == "paletted"
        assert shown["classes"][7] == [7.0, "building", "#ff0000"] and len(shown["classes"]) == 9


def test_palette_fills_unnamed_values():
    xml = Palette({0: (0, 0, 0), 3: (1, 2, 3)}, {0: "none", 3: "a & b"}).band_xml()
    assert "<Category>a &amp; b</Category>" in xml and xml.count("<Category>") == 4
    assert xml.count('c1="0" c2="0" c3="0"') == 3
