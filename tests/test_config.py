import re

import pytest

from geosiam.config import (
    SETTINGS_VERSION,
    Settings,
    TrainSettings,
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


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[train]\nloss = "arcface"',
            "unknown loss 'arcface': use one of bce, contrastive, triplet",
        ),
        ('[train]\nbackbone = "vgg"', "unknown backbone 'vgg': use one of auto, resnet50"),
        ('[split]\nmethod = "random"', "unknown split method 'random': use one of blocks, dept"),
        ('[labels]\nmode = "some"', "unknown --labels 'some': use one of auto, both, newer, none"),
        ('[train]\nlabels = "old"', "unknown label mode 'old': use one of '', both, newer, none"),
        ("[train]\nepochs = 0", "--epochs must be at least 1, got 0"),
        ("[train]\nmask_dropout = 2.0", "--mask-dropout is a probability, got 2.0"),
        ("[split]\nfractions = [1.0, -1.0, 1.0]", "split fractions must be three non-negative numbers"),
        ("[split]\nmin_iou = 0.0", "split.min_iou must be in (0, 1], got 0.0"),
    ],
)
def test_choices_and_ranges_are_checked_when_read(tmp_path, toml, message):
    path = tmp_path / "geosiam.toml"
    path.write_text(toml)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(path)


def test_choices_are_checked_when_made_in_code_too():
    with pytest.raises(SettingsError, match=re.escape("unknown mask encoding 'hsv'")):
        TrainSettings(mask_encoding="hsv")
    with pytest.raises(SettingsError, match="exclude each other"):
        with_overrides(Settings(), {"train.image_only": True, "train.mask_only": True})


def test_saved_settings_carry_their_version(tmp_path):
    save_settings(Settings(), tmp_path / "geosiam.toml")
    assert f"version = {SETTINGS_VERSION}" in (tmp_path / "geosiam.toml").read_text()


def test_a_file_without_version_is_migrated(tmp_path):
    # version 1 files predate the key; they could still hold prepare.jobs, a setting since dropped
    path = tmp_path / "geosiam.toml"
    path.write_text("years = [2000, 2015]\n[prepare]\njobs = 4\nmin_valid_fraction = 0.8\n")
    settings = load_settings(path)
    assert settings.version == SETTINGS_VERSION and settings.prepare.min_valid_fraction == 0.8


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (SETTINGS_VERSION + 1, "newer than this geosiam reads"),
        (0, "'version' must be a whole number >= 1, got 0"),
        ('"two"', "'version' must be a whole number >= 1, got 'two'"),
    ],
)
def test_versions_it_cannot_read_are_refused(tmp_path, version, message):
    path = tmp_path / "geosiam.toml"
    path.write_text(f"version = {version}\n")
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(path)
