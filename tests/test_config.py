import pytest

from geosiam.config import (
    Settings,
    load_settings,
    save_settings,
    validate_years,
    with_overrides,
)
from geosiam.errors import SettingsError


def test_settings_round_trip_through_toml(tmp_path):
    settings = with_overrides(
        Settings(), {"years": [2000, 2015], "grid.tile_px": 128, "sources.ortho": {"2000": "a.tif"}}
    )
    save_settings(settings, tmp_path / "geosiam.toml")
    loaded = load_settings(tmp_path / "geosiam.toml")
    assert loaded == settings
    assert loaded.grid.tile_px == 128 and loaded.grid.tile_size_m is None


def test_overrides_win_and_none_means_unset():
    base = with_overrides(Settings(), {"grid.tile_px": 64})
    assert with_overrides(base, {"grid.tile_px": None}).grid.tile_px == 64
    assert with_overrides(base, {"grid.tile_px": 32}).grid.tile_px == 32


def test_unknown_key_names_the_key(tmp_path):
    (tmp_path / "geosiam.toml").write_text("[grid]\ntile_pixels = 3\n")
    with pytest.raises(SettingsError, match="grid.tile_pixels"):
        load_settings(tmp_path / "geosiam.toml")


def test_wrong_type_and_syntax_are_one_line_errors(tmp_path):
    (tmp_path / "a.toml").write_text('[grid]\ntile_px = "big"\n')
    with pytest.raises(SettingsError, match="grid.tile_px.*int"):
        load_settings(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text("[grid\n")
    with pytest.raises(SettingsError, match="line 1"):
        load_settings(tmp_path / "b.toml")


@pytest.mark.parametrize(
    "years, message",
    [
        ([2015], "two distinct"),
        ([2000, 2000], "two distinct"),
        ([2000, 2015, 2020], "two distinct"),
        ([1800, 2015], "unknown year 1800"),
    ],
)
def test_bad_years(years, message):
    with pytest.raises(SettingsError, match=message):
        validate_years(years)


def test_years_are_sorted_oldest_first():
    assert validate_years([2015, 2000]) == [2000, 2015]


def test_label_records_round_trip_and_old_workspaces_mean_both(tmp_path):
    from geosiam.sources.labels import YearLabels

    settings = Settings(years=[2006, 2015])
    settings.labels.resolved = "newer"
    settings.labels.years = {
        "2006": YearLabels(2006, reason="no vectors for this year").record(),
        "2015": YearLabels(2015, "2014-06-15", -1.04, "2").record(),
    }
    save_settings(settings, tmp_path / "geosiam.toml")
    loaded = load_settings(tmp_path / "geosiam.toml")
    assert loaded.labels.effective == "newer" and loaded.labels.years["2015"]["gap_years"] == -1.04
    assert loaded.labels.years["2006"]["source"] == "" and loaded.labels.years["2006"]["gap_years"] != 0
    (tmp_path / "old.toml").write_text("years = [2000, 2015]\n")
    old = load_settings(tmp_path / "old.toml")
    assert old.labels.resolved == "" and old.labels.effective == "both" and old.labels.mode == "auto"
