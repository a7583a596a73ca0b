"""Reading sources onto the tile grid: the aligned path, the warp path, levels, dalle borders."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject

from geosiam.sources.sourceset import YearSources
from geosiam.tiling import cut, resample
from geosiam.tiling.grid import Grid
from geosiam.tiling.rasters import inspect

GRID = Grid("EPSG:2154", 0.0, 0.0, 100.0, 64)  # 1.5625 m tile pixels


def _texture(shape, seed=0) -> np.ndarray:
    """Smooth shapes plus grain: (3, H, W) uint8 with structure at every scale."""
    rng = np.random.default_rng(seed)
    height, width = shape
    y, x = np.mgrid[0:height, 0:width]
    base = 120 + 60 * np.sin(x / 17.0) * np.cos(y / 23.0)
    base = base + (((x // 40) + (y // 40)) % 2) * 40
    return np.clip(base[None] + rng.normal(0, 12, (3, height, width)), 0, 255).astype(np.uint8)


def _raster(path: Path, pixels, left, top, res, crs="EPSG:2154", **options) -> Path:
    _, height, width = pixels.shape
    profile = dict(
        driver="GTiff", width=width, height=height, count=3, dtype="uint8", crs=crs,
        transform=Affine(res, 0, left, 0, -res, top), tiled=True, blockxsize=256, blockysize=256,
    )  # fmt: skip
    profile.update(options)
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
    return path


def _info(path: Path):
    return inspect(YearSources(2020, (path,)), path, GRID.crs)


def _canvas(col0=0, row0=0, tiles=2):
    """Transform and shape of a canvas of ``tiles`` x ``tiles`` grid cells, lower-left (col0, row0)."""
    return GRID.transform(col0, row0 + tiles - 1), (tiles * GRID.tile_px, tiles * GRID.tile_px)


def test_aligned_read_by_a_whole_factor_is_the_block_mean(tmp_path):
    pixels = _texture((512, 512))
    path = _raster(tmp_path / "a.tif", pixels, 0.0, 200.0, 0.390625)  # 4 source px per tile px
    transform, shape = _canvas()
    rgb, valid = cut.read_onto(_info(path), transform, shape, GRID.crs)
    expected = pixels.astype(np.float64).reshape(3, 128, 4, 128, 4).mean(axis=(2, 4))
    assert valid.all()
    assert np.abs(rgb.astype(int) - np.rint(expected)).max() <= 1


@pytest.mark.parametrize(
    ("res", "max_difference", "mean_difference"),
    # area mean (5x), bilinear shrinking (1.56x), bilinear enlarging (0.63x)
    [(0.3125, 1, 0.1), (1.0, 2, 0.3), (2.5, 2, 0.3)],
)
def test_aligned_and_warped_paths_agree_where_both_apply(tmp_path, res, max_difference, mean_difference):
    px = round(200 / res)
    path = _raster(
        tmp_path / "a.tif", _texture((px, px), seed=1), 0.0, 200.0, res, blockxsize=16, blockysize=16
    )
    transform, shape = _canvas()
    info = _info(path)
    fast, fast_valid = cut.read_onto(info, transform, shape, GRID.crs)
    warped, warped_valid = cut.read_onto(info, transform, shape, GRID.crs, aligned=False)
    np.testing.assert_array_equal(fast_valid, warped_valid)
    difference = np.abs(fast.astype(int) - warped.astype(int))[:, 2:-2, 2:-2]  # edges: padding differs
    # the stated tolerance: the same kernels in two implementations, rounded
    assert difference.max() <= max_difference
    assert difference.mean() < mean_difference


def test_dalle_border_inside_a_canvas_is_seamless(tmp_path):
    pixels = _texture((512, 512), seed=2)
    res = 0.390625
    left = _raster(tmp_path / "left.tif", pixels[:, :, :256], 0.0, 200.0, res)
    right = _raster(tmp_path / "right.tif", pixels[:, :, 256:], 100.0, 200.0, res)
    whole = _raster(tmp_path / "whole.tif", pixels, 0.0, 200.0, res)
    transform, shape = _canvas()
    canvas, owner = cut.mosaic([_info(left), _info(right)], transform, shape, GRID.crs)
    single, _ = cut.mosaic([_info(whole)], transform, shape, GRID.crs)
    assert (owner >= 0).all()
    assert set(np.unique(owner)) == {0, 1}
    np.testing.assert_array_equal(canvas, single)


def test_a_source_covering_part_of_the_canvas_fills_only_its_part(tmp_path):
    pixels = _texture((256, 256), seed=3)
    path = _raster(tmp_path / "a.tif", pixels, 100.0, 200.0, 0.390625)  # the top-right cell only
    transform, shape = _canvas()
    _, valid = cut.read_onto(_info(path), transform, shape, GRID.crs)
    assert valid[:64, 64:].all() and not valid[64:].any() and not valid[:, :64].any()


def test_nodata_outside_the_picture_is_invalid_on_the_aligned_path(tmp_path):
    pixels = _texture((512, 512), seed=4)
    pixels[:, :, :128] = 0
    path = _raster(tmp_path / "a.tif", pixels, 0.0, 200.0, 0.390625, nodata=0)
    transform, shape = _canvas()
    _, valid = cut.read_onto(_info(path), transform, shape, GRID.crs)
    assert not valid[:, :32].any() and valid[:, 33:].all()


def test_warp_path_for_another_crs_is_the_plain_reprojection(tmp_path):
    """Without levels to use, the warp path is unchanged: the source reprojected as before."""
    pixels = _texture((300, 300), seed=5)
    # the same place in UTM 31N, 1 m pixels (decimation 1.56: bilinear, as before this change)
    path = _raster(tmp_path / "utm.tif", pixels, 500_000.0, 4_650_300.0, 1.0, crs="EPSG:32631")
    info = _info(path)
    xmin, ymin, xmax, ymax = info.bounds
    grid = Grid("EPSG:2154", 0.0, 0.0, 100.0, 64)
    col, row = int(xmin // 100) + 1, int(ymin // 100) + 1
    transform, shape = grid.transform(col, row), (64, 64)
    assert xmin < transform.c and transform.c + 100 < xmax
    rgb, valid = cut.read_onto(info, transform, shape, grid.crs)
    expected = np.zeros((3, 64, 64), np.float32)
    reproject(
        pixels, expected, src_transform=Affine(1, 0, 500_000, 0, -1, 4_650_300), src_crs="EPSG:32631",
        dst_transform=transform, dst_crs=grid.crs, resampling=Resampling.bilinear,
    )  # fmt: skip
    assert valid.all()
    assert np.abs(rgb.astype(int) - np.rint(expected).astype(int)).max() <= 1


@pytest.fixture(scope="module")
def edge_jp2(tmp_path_factory) -> Path:
    """A lossless JPEG2000 with resolution levels and a vertical edge at x = 37.5 m (0.5 m pixels)."""
    pixels = np.full((3, 512, 512), 40, np.uint8)
    pixels[:, :, 75:] = 220  # the edge between source pixels 74 and 75: x = 37.5 m
    path = tmp_path_factory.mktemp("jp2") / "edge.jp2"
    profile = dict(
        driver="JP2OpenJPEG", width=512, height=512, count=3, dtype="uint8", crs="EPSG:2154",
        transform=Affine(0.5, 0, 0.0, 0, -0.5, 256.0),
    )  # fmt: skip
    options = {"REVERSIBLE": "YES", "RESOLUTIONS": "5", "BLOCKXSIZE": "256", "BLOCKYSIZE": "256"}
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path, "w", **profile, **options) as dst:
        dst.write(pixels)
    return path


def _edge_position(row: np.ndarray, pixel_m: float) -> float:
    """Where a dark-to-bright profile crosses half way, in metres (linear between pixel centres)."""
    level = (row.min() + row.max()) / 2
    i = int(np.argmax(row >= level))
    fraction = (level - row[i - 1]) / (row[i] - row[i - 1])
    return (i - 1 + 0.5 + fraction) * pixel_m


def test_jpeg2000_level_reads_keep_edges_in_place(edge_jp2):
    grid = Grid("EPSG:2154", 0.0, 0.0, 256.0, 64)  # 4 m tile pixels: decimation 8, the 1/8 level
    info = inspect(YearSources(2020, (edge_jp2,)), edge_jp2, grid.crs)
    transform, shape = grid.transform(0, 0), (64, 64)
    assert resample.level_factor(8.0, [2, 4, 8, 16], 0.05) == 8
    fast, _ = cut.read_onto(info, transform, shape, grid.crs, oversampling=0.05)
    warped, _ = cut.read_onto(info, transform, shape, grid.crs, oversampling=0.05, aligned=False)
    with rasterio.open(edge_jp2) as src:
        full = src.read(1).astype(np.float32)
    ideal = _edge_position(resample.area_resize(full, (64, 64))[32], 4.0)  # 4 m block means of 0.5 m
    for rgb in (fast, warped):
        # within 0.3 m (0.08 tile pixel); the level where GDAL places it puts the edge 1.2 m right
        assert _edge_position(rgb[0, 32].astype(float), 4.0) == pytest.approx(ideal, abs=0.3)


def test_a_tile_is_written_on_its_cell_with_its_validity_mask_inside(tmp_path):
    rgb = _texture((GRID.tile_px, GRID.tile_px))
    valid = np.ones((GRID.tile_px, GRID.tile_px), dtype=bool)
    valid[:, :10] = False
    with rasterio.Env(**cut.TILE_ENV):
        cut.write_tile(tmp_path / "t.tif", rgb, valid, GRID, 3, -2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.tif"]  # no .msk beside it
    with rasterio.open(tmp_path / "t.tif") as tile:
        assert tile.bounds == GRID.bounds(3, -2) and tile.crs == GRID.crs and (tile.read() == rgb).all()
        assert tile.compression.value == "ZSTD" and tile.block_shapes == [(64, 64)] * 3
        assert (tile.dataset_mask() > 0).tolist() == valid.tolist()
