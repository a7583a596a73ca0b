"""Photo search: reading any image, its scale, the windows it is cut into, and their vote."""

import geopandas as gpd
import numpy as np
import pytest
import shapely
from PIL import Image
from rasterio.transform import from_origin

from geosiam.errors import SettingsError, SourceError
from geosiam.ranking import l2_normalise
from geosiam.retrieval import photo
from geosiam.retrieval.descriptors import Descriptors
from tests.retrieval.factory import write_geotiff


def test_only_images_with_a_crs_and_a_transform_are_georeferenced(tmp_path):
    pixels = np.zeros((8, 8, 3), np.uint8)
    assert photo.is_georeferenced(write_geotiff(tmp_path / "g.tif", pixels, from_origin(0, 80, 10, 10)))
    assert not photo.is_georeferenced(
        write_geotiff(tmp_path / "s.tif", pixels, from_origin(0, 8, 1, 1), None)
    )
    Image.fromarray(pixels).save(tmp_path / "p.png")
    assert not photo.is_georeferenced(tmp_path / "p.png")
    (tmp_path / "t.txt").write_text("not an image")
    assert not photo.is_georeferenced(tmp_path / "t.txt")


def test_grey_palette_and_transparent_photos_are_read_as_rgb(tmp_path):
    Image.fromarray(np.full((5, 7), 90, np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.full((5, 7, 4), 200, np.uint8)).save(tmp_path / "rgba.png")
    Image.fromarray(np.full((5, 7, 3), 51, np.uint8)).convert("P").save(tmp_path / "palette.gif")
    for name, value in (("grey.png", 90), ("rgba.png", 200), ("palette.gif", 51)):
        pixels = photo.read_photo(tmp_path / name)
        assert pixels.shape == (5, 7, 3) and pixels.dtype == np.uint8 and int(pixels[0, 0, 0]) == value


def test_unreadable_photos_are_one_line_errors(tmp_path):
    (tmp_path / "t.jpg").write_text("not an image")
    with pytest.raises(SourceError, match="cannot read .* give a JPEG, PNG"):
        photo.read_photo(tmp_path / "t.jpg")
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(SourceError, match="not 8-bit"):
        photo.read_photo(tmp_path / "deep.png")
    with pytest.raises(SettingsError, match="does not exist"):
        photo.read_photo(tmp_path / "none.jpg")


def test_a_photo_is_cut_into_whole_tiles_at_its_scale_centred():
    one = photo.photo_windows((64, 96), tile_m=250, px=32, gsd=None)  # shorter side = one tile
    assert (one.cols, one.rows, one.width, one.height, one.left, one.top) == (1, 1, 48, 32, 8, 0)
    six = photo.photo_windows((70, 100), tile_m=250, px=32, gsd=250 / 32)  # 32 photo px per tile
    assert (six.cols, six.rows, six.left, six.top) == (3, 2, 2, 3) and six.offsets()[:4] == [
        (0, 0),
        (1, 0),
        (2, 0),
        (0, 1),
    ]
    assert photo.photo_windows((64, 64), tile_m=250, px=32, gsd=250 / 64).width == 32  # resampled by half
    with pytest.raises(SettingsError, match="smaller than one tile of 250 m: check --gsd"):
        photo.photo_windows((64, 64), tile_m=250, px=32, gsd=1.0)
    with pytest.raises(SettingsError, match="--gsd must be a positive number"):
        photo.photo_windows((64, 64), tile_m=250, px=32, gsd=-2.0)


def test_windows_are_box_resampled_crops_in_reading_order():
    pixels = np.zeros((64, 128, 3), np.uint8)
    pixels[:, 64:] = 200  # right half bright
    windows = photo.photo_windows(pixels.shape, tile_m=100, px=16, gsd=100 / 32)
    crops = photo.cut_windows(pixels, windows)
    assert crops.shape == (windows.count, 16, 16, 3) == (8, 16, 16, 3)
    assert [int(c.mean()) for c in crops[:4]] == [0, 0, 200, 200]


def grid_descriptors(n=6, tile_m=100.0):
    """``n`` tiles in a row, each its own direction; plus one tile of another year."""
    vectors = l2_normalise(np.eye(n + 1, dtype=np.float32) + 0.05)
    table = gpd.GeoDataFrame(
        {
            "image": [f"{i}.tif" for i in range(n + 1)],
            "mask": [""] * (n + 1),
            "tile_id": [f"t{i}" for i in range(n + 1)],
            "year": [2000] * n + [2015],
            "model": ["m"] * (n + 1),
        },
        geometry=[shapely.box(i * tile_m, 0, (i + 1) * tile_m, tile_m) for i in range(n)]
        + [shapely.box(0, 0, tile_m, tile_m)],
        crs="EPSG:2154",
    )
    return Descriptors(vectors, table, "m")


def test_windows_vote_for_the_footprint_they_agree_on():
    descriptors = grid_descriptors()
    windows = photo.photo_windows((32, 64), tile_m=100, px=32, gsd=100 / 32)  # two tiles side by side
    # window 0 looks like tile 2, window 1 like tile 3 (and a little like tile 5)
    vectors = l2_normalise(descriptors.vectors[[2, 3]] + np.array([0, 0, 0, 0, 0, 0.3, 0], np.float32))
    found = photo.vote(vectors, windows, descriptors, 2000, k=3, photo="p.jpg")
    best = found.iloc[0]
    assert best.geometry.bounds == (200, 0, 400, 100) and best.votes == 2 and best.tiles == "t2 t3"
    assert best.score == pytest.approx(float(np.mean(np.sum(vectors * descriptors.vectors[[2, 3]], 1))))
    assert found["score"].is_monotonic_decreasing and list(found["rank"]) == [1, 2, 3]
    assert set(found["year"]) == {2000} and set(found["votes"]) <= {1, 2} and found.crs == "EPSG:2154"
    assert "t6" not in " ".join(found["tiles"])  # the other year's tile never votes


def test_one_window_ranks_tiles_as_a_tile_search_does():
    descriptors = grid_descriptors()
    windows = photo.photo_windows((40, 40), tile_m=100, px=32, gsd=None)
    found = photo.vote(descriptors.vectors[[4]], windows, descriptors, 2000, k=2)
    assert len(found) == 2 and found.iloc[0].tiles == "t4" and found.iloc[1].votes == 1
    assert found.iloc[0].geometry.bounds == (400, 0, 500, 100) and found.iloc[0].score == pytest.approx(1)
    assert photo.tile_size_m(descriptors, 2000) == 100
