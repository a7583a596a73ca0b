"""The settings of a prepare: defaults < geosiam.toml < the command line, an area's defaults
following the area, and bad settings refused before anything is written."""

import pytest

from geosiam.config import save_settings
from geosiam.errors import SettingsError, SourceError
from geosiam.prepare.settings import resolve_settings
from geosiam.sources.sample import SAMPLE_GRID
from tests.synthetic import write_raster


def test_raster_without_crs_is_an_error(tmp_path):
    path = write_raster(tmp_path / "a.tif", (0, 0, 500, 500), 2.0, crs=None)
    with pytest.raises(SourceError, match="no CRS"):
        resolve_settings(
            tmp_path / "ws", {"years": [2000, 2015], "sources.ortho": {"2000": str(path), "2015": str(path)}}
        )


def sample_overrides(**extra):
    return {"years": [1995, 2020], "area.sample": True, **extra}


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"sample.km": 0}, "--sample-km must be a whole number of km above 0"),
        ({"sample.km": -3}, "--sample-km must be a whole number of km above 0"),
        ({"sample.km": 1}, r"1 km sample holds 1 split block\(s\) of 1250 m, fewer than the 3 splits"),
        ({"sample.km": 2, "split.block_size_m": 5000.0}, "give a larger --sample-km"),
        ({"sample.panchromatic_before": 1900}, "--panchromatic-before 1900 is outside the sample's years"),
        ({"sample.panchromatic_before": 2101}, "give a year from 1950 to 2100"),
    ],
)
def test_bad_sample_settings_are_refused_before_anything_is_written(tmp_path, extra, message):
    with pytest.raises(SettingsError, match=message):
        resolve_settings(tmp_path, sample_overrides(**extra))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("user", [{}, {"grid.tile_px": 32, "split.block_size_m": 3000.0}])
def test_a_new_area_takes_its_own_grid_defaults_and_keeps_what_the_user_set(tmp_path, user):
    sample = resolve_settings(tmp_path, sample_overrides(**user)).settings
    assert (sample.grid.tile_size_m, sample.grid.origin_x) == (250.0, SAMPLE_GRID["origin_x"])
    save_settings(sample, tmp_path / "geosiam.toml")
    ign = resolve_settings(tmp_path, {"years": [1995, 2020], "area.depts": ["54"]}).settings
    grid = ign.grid
    assert (grid.crs, grid.origin_x, grid.origin_y, grid.tile_size_m) == ("EPSG:2154", 0.0, 0.0, 1000.0)
    assert grid.tile_px == user.get("grid.tile_px", 256)
    assert ign.split.block_size_m == user.get("split.block_size_m", 5000.0)


def test_the_sample_area_is_taken_by_default_only_when_no_area_is_named_anywhere(tmp_path):
    chosen = resolve_settings(tmp_path, {"years": [1995, 2020]})
    assert chosen.sample_by_default and chosen.settings.area.sample
    assert chosen.settings.grid.tile_size_m == SAMPLE_GRID["tile_size_m"]
    assert not resolve_settings(tmp_path, sample_overrides()).sample_by_default  # --sample given
    save_settings(chosen.settings, tmp_path / "geosiam.toml")
    stored = resolve_settings(tmp_path, {"years": [1995, 2020]})  # geosiam.toml names it
    assert stored.settings.area.sample and not stored.sample_by_default
