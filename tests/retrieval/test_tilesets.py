"""Finding tiles to embed: folders, globs, tiles.gpkg, masks, years, and bad input."""

import shutil

import numpy as np
import pytest
import shapely
from rasterio.transform import from_origin

from geosiam.errors import SourceError
from geosiam.retrieval.tilesets import find_tiles, workspace_mask_path, year_from_path
from tests.retrieval.factory import make_workspace, write_geotiff


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("ws"), places=3, px=32)


def rgb(px=32, bands=3, dtype=np.uint8):
    return np.full((px, px, bands), 100, dtype=dtype)


def test_folder_is_searched_recursively_with_workspace_masks(workspace):
    tiles = find_tiles(workspace.tiles_dir, 32, need_masks=True)
    assert len(tiles) == 6
    assert tiles.masks[0] == workspace.masks_dir / "2000" / f"{tiles.tile_ids[0]}.tif"
    assert sorted(set(tiles.years)) == [2000, 2015]
    assert tiles.footprints[0].equals(shapely.box(930000, 6860000, 930250, 6860250))
    assert tiles.crs == "EPSG:2154"


def test_glob_and_image_only_take_no_masks(workspace):
    tiles = find_tiles(f"{workspace.tiles_dir}/2015/*.tif", 32, need_masks=False)
    assert len(tiles) == 3 and tiles.masks is None and set(tiles.years) == {2015}


def test_tiles_gpkg_gives_ids_years_and_footprints(workspace):
    tiles = find_tiles(workspace.tiles_index, 32, need_masks=True, year=2015)
    assert len(tiles) == 3 and set(tiles.years) == {2015}
    assert tiles.images[0].exists() and tiles.masks[0].exists()
    table = tiles.table("model-x")
    assert list(table["model"].unique()) == ["model-x"] and len(table) == 3


def test_tiles_without_labels_have_no_mask_and_unused_masks_are_never_looked_for(tmp_path):
    import geopandas as gpd

    from geosiam.tiling.tables import read_geopackage, write_geopackage

    ws = make_workspace(tmp_path / "ws", places=3, px=32)
    shutil.rmtree(ws.masks_dir / "2000")
    with pytest.raises(SourceError, match="3 tile\\(s\\) have no mask.*--no-masks"):
        find_tiles(ws.tiles_index, 32, need_masks=True)
    tiles = find_tiles(ws.tiles_index, 32, need_masks=True, unlabelled_years={2000})
    assert [m is None for m in tiles.masks] == [y == 2000 for y in tiles.years]
    assert list(tiles.table("m")["mask"] == "") == [y == 2000 for y in tiles.years]
    folder = find_tiles(ws.tiles_dir, 32, need_masks=True, unlabelled_years={2000})
    assert sum(m is None for m in folder.masks) == 3
    rows = read_geopackage(ws.tiles_index, "tiles")
    rows.loc[rows["year"] == 2000, "mask"] = ""  # a workspace prepared with labels 'newer'
    write_geopackage(gpd.GeoDataFrame(rows, crs=rows.crs), ws.tiles_index, "tiles")
    tiles = find_tiles(ws.tiles_index, 32, need_masks=True)
    assert [m is None for m in tiles.masks] == [y == 2000 for y in tiles.years]


def test_larger_tiles_are_accepted_smaller_ones_refused(workspace):
    assert len(find_tiles(workspace.tiles_dir / "2000", 16, need_masks=True)) == 3
    with pytest.raises(SourceError, match="smaller than the model's input of 64 px"):
        find_tiles(workspace.tiles_dir / "2000", 64, need_masks=True)


def test_user_imagery_with_masks_folder_and_year_option(tmp_path):
    transform = from_origin(500000, 6700000, 2.0, 2.0)
    write_geotiff(tmp_path / "mine" / "a.tif", rgb(), transform)
    write_geotiff(tmp_path / "labels" / "a.tif", np.zeros((32, 32), np.uint8), transform)
    tiles = find_tiles(tmp_path / "mine", 32, need_masks=True, masks_dir=tmp_path / "labels", year=2021)
    assert tiles.masks == [tmp_path / "labels" / "a.tif"] and tiles.years == [2021]
    assert find_tiles(tmp_path / "mine" / "a.tif", 32, need_masks=False).years == [0]


def test_footprints_in_another_crs_are_reprojected_to_the_first(tmp_path):
    write_geotiff(tmp_path / "t" / "a.tif", rgb(), from_origin(700000, 6600000, 10.0, 10.0))
    write_geotiff(tmp_path / "t" / "b.tif", rgb(), from_origin(3.0, 46.5, 0.0001, 0.0001), crs="EPSG:4326")
    tiles = find_tiles(tmp_path / "t", 32, need_masks=False)
    assert tiles.crs == "EPSG:2154"
    x, y = tiles.footprints[1].centroid.coords[0]
    assert 600000 < x < 800000 and 6500000 < y < 6700000


def test_missing_masks_are_one_error_naming_the_first(tmp_path):
    write_geotiff(tmp_path / "tiles" / "2015" / "x1_y1.tif", rgb(), from_origin(0, 320, 10, 10))
    with pytest.raises(SourceError, match=r"1 tile\(s\) have no mask .*masks/2015/x1_y1.tif.*--masks DIR"):
        find_tiles(tmp_path / "tiles", 32, need_masks=True)


@pytest.mark.parametrize(
    ("data", "crs", "message"),
    [
        (rgb(bands=1), "EPSG:2154", "has 1 band"),
        (rgb(dtype=np.uint16), "EPSG:2154", "uint16, tiles must be 8-bit"),
        (np.zeros((32, 48, 3), np.uint8), "EPSG:2154", "48x32 px, not square"),
        (rgb(), None, "not georeferenced"),
    ],
)
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # intended here
def test_bad_tiles_are_one_line_errors(tmp_path, data, crs, message):
    transform = from_origin(0, 320, 10, 10) if crs else from_origin(0, 0, 1, -1)
    write_geotiff(tmp_path / "t" / "bad.tif", data, transform, crs=crs)
    with pytest.raises(SourceError, match=message) as info:
        find_tiles(tmp_path / "t", 32, need_masks=False)
    assert "\n" not in str(info.value)


def test_mask_on_another_pixel_grid_is_refused(tmp_path):
    write_geotiff(tmp_path / "tiles" / "2015" / "a.tif", rgb(), from_origin(0, 320, 10, 10))
    coarse = np.zeros((16, 16), np.uint8)
    write_geotiff(tmp_path / "masks" / "2015" / "a.tif", coarse, from_origin(0, 320, 20, 20))
    with pytest.raises(SourceError, match="masks must be on their tile's pixel grid"):
        find_tiles(tmp_path / "tiles", 32, need_masks=True)


def test_empty_folder_missing_path_and_foreign_gpkg(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no GeoTIFF"):
        find_tiles(tmp_path / "empty", 32, need_masks=False)
    with pytest.raises(SourceError, match="does not exist"):
        find_tiles(tmp_path / "nowhere", 32, need_masks=False)
    with pytest.raises(SourceError, match="no GeoTIFF"):
        find_tiles(str(tmp_path / "empty" / "*.tif"), 32, need_masks=False)
    with pytest.raises(SourceError, match="does not exist"):
        find_tiles(tmp_path / "tiles.gpkg", 32, need_masks=False)


def test_year_and_mask_paths_follow_the_workspace_layout(tmp_path):
    image = tmp_path / "tiles" / "2015" / "x3_y4.tif"
    assert year_from_path(image) == 2015 and year_from_path(tmp_path / "a.tif") == 0
    assert workspace_mask_path(image) == tmp_path / "masks" / "2015" / "x3_y4.tif"
    assert workspace_mask_path(tmp_path / "a.tif") is None


def test_a_file_that_is_not_a_raster_is_a_one_line_error(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "broken.tif").write_bytes(b"not a tiff")
    with pytest.raises(SourceError, match="broken.tif.*give GeoTIFF tiles") as info:
        find_tiles(tmp_path / "t", 32, need_masks=False)
    assert "\n" not in str(info.value)
