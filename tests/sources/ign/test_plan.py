"""What an area needs, planned from the feeds: errors before any download, each year's labels."""

import geopandas as gpd
import pytest

from geosiam.errors import SettingsError, SourceError
from geosiam.sources.ign.fetch import fetch_sources
from geosiam.workspace import Workspace
from tests.fake_geoplateforme import (
    ortho_delivery,
    populate_dept54,
)
from tests.sources.ign.common import TOPO_2019, prepare_54, settings_for


def test_a_year_with_neither_archive_nor_layer_lists_what_exists(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    with pytest.raises(
        SourceError,
        match=r"no BD ORTHO for 1990 in département 54: archives exist for 2015, 2018; "
        r"WMS-R layers cover 1950-1965, 2000-2005, 2015",
    ):
        fetch_sources(settings_for(geoplateforme, years=(1990, 2015)), Workspace(tmp_path / "ws"), None)
    assert not geoplateforme.hits(".7z.001")  # planned before any download


def test_unknown_departement_fails_before_any_request(geoplateforme, tmp_path):
    with pytest.raises(SettingsError, match="unknown département '99': use a code among 01, 02.*2A, 2B.*971"):
        fetch_sources(settings_for(geoplateforme, depts=("99",)), Workspace(tmp_path), None)
    assert geoplateforme.requests == []


def test_an_area_outside_the_departements_names_the_years_before_streaming(geoplateforme, tmp_path, capsys):
    """2000 has a WMS-R layer that covers any area, 2015 an archive of 54 with nothing there: the
    user learns it from the plan, not after 54's archives are downloaded for nothing."""
    populate_dept54(geoplateforme, tmp_path / "src")
    inside_57 = (911000, 6846000, 913000, 6848000)
    workspace = tmp_path / "ws"
    status = prepare_54(geoplateforme, workspace, (2000, 2015), "--bbox", *inside_57)
    err = capsys.readouterr().err.strip()
    assert status != 0 and len(err.splitlines()) == 1
    assert err.startswith("geosiam: error: no sources for 2000 or 2015: the area (911000, 6846000, ")
    assert "lies outside département(s) 54: check --bbox/--aoi" in err
    assert not geoplateforme.hits(".7z.001") and not geoplateforme.hits("/wms-r")
    assert not any((workspace / "cache").rglob("*.7z*")) and not (workspace / "tiles.gpkg").exists()


def test_a_departement_beside_the_area_is_left_out_before_its_feeds_are_read(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")  # 57's 2015 archive is listed, with no file
    inside_54 = (901000.0, 6846000.0, 903000.0, 6848000.0)
    settings = settings_for(geoplateforme, years=(2000, 2015), depts=("54", "57"), bbox=inside_54)
    records = fetch_sources(settings, Workspace(tmp_path / "ws"), inside_54)
    assert {r.zone for r in records} == {"54"} and {r.year for r in records} == {2000, 2015}
    assert not [q for _, q, _ in geoplateforme.requests if q.get("zone") == "D057"]


def test_prepare_states_each_years_labels_and_gives_an_old_year_none(geoplateforme, tmp_path, capsys):
    """BD TOPO v3 starts in 2019: 2015 gets the 2.x edition of 2016, 2006 nothing (2012 is too far)."""
    from geosiam.config import load_settings

    populate_dept54(geoplateforme, tmp_path / "src")
    geoplateforme.add(ortho_delivery(tmp_path / "src", "54", 2006, [(900, 6850), (905, 6850)]))
    ws = tmp_path / "ws"
    assert prepare_54(geoplateforme, ws, (2006, 2015)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert (
        "2006: no labels (the nearest edition, 2012-03-26, is +5.7 years from the image, "
        "beyond --max-label-gap 3)" in out
    )
    assert "2015: labels from BD TOPO 2.x edition 2016-06-15, +1.0 years from the image" in out
    assert "Label mode: newer (--labels auto)" in out
    tiles = gpd.read_file(ws / "tiles.gpkg")
    old, new = tiles[tiles["year"] == 2006], tiles[tiles["year"] == 2015]
    assert (old["mask"].fillna("") == "").all() and (old["label_source"].fillna("") == "").all()
    assert old["label_gap_years"].isna().all() and not (ws / "masks" / "2006").exists()
    assert set(new["label_source"]) == {"2016-06-15"} and new["label_gap_years"].round(2).eq(0.96).all()
    assert all((ws / m).exists() for m in new["mask"])
    pairs = gpd.read_file(ws / "pairs.gpkg", layer="pairs")
    assert (pairs["mask_a"].fillna("") == "").all() and (pairs["mask_b"] != "").all()
    labels = load_settings(ws / "geosiam.toml").labels
    assert labels.resolved == "newer" and labels.years["2015"]["version"] == "2"
    assert labels.years["2015"]["source"] == "2016-06-15" and labels.years["2006"]["source"] == ""
    assert not geoplateforme.hits(f"{TOPO_2019}.7z")  # the v3 edition is nobody's nearest
    extracted = {p.name for p in (ws / "cache" / "extracted").rglob("*.*")}
    assert {"ROUTE.SHP", "ROUTE.DBF", "BATI_REMARQUABLE.PRJ"} <= extracted  # the layers a class reads
    assert not {"COMMUNE.SHP", "COMMUNE.DBF"} & extracted
    assert prepare_54(geoplateforme, ws, (2006, 2015), fresh=False) == 0  # says what it used
    again = capsys.readouterr().out
    assert "2015: labels from BD TOPO 2.x edition 2016-06-15" in again and "nothing to do" in again


def test_two_years_never_carry_one_editions_masks(geoplateforme, tmp_path, capsys):
    populate_dept54(geoplateforme, tmp_path / "src")
    geoplateforme.add(ortho_delivery(tmp_path / "src", "54", 2006, [(900, 6850), (905, 6850)]))
    ws = tmp_path / "ws"
    code = prepare_54(
        geoplateforme, ws, (2006, 2015), "--max-label-gap", "12", "--topo-edition", "2006=2016-06-15"
    )
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "2006: no labels (its nearest edition, 2016-06-15, is also 2015's: identical masks" in out
    tiles = gpd.read_file(ws / "tiles.gpkg")
    assert set(tiles.loc[tiles["mask"].fillna("") != "", "year"]) == {2015}


def test_labels_both_without_labels_for_a_year_fails_before_downloading(geoplateforme, tmp_path, capsys):
    populate_dept54(geoplateforme, tmp_path / "src")
    geoplateforme.add(ortho_delivery(tmp_path / "src", "54", 2006, [(900, 6850), (905, 6850)]))
    assert prepare_54(geoplateforme, tmp_path / "ws", (2006, 2015), "--labels", "both") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("geosiam: error: --labels both needs labels for 2006, which has none")
    assert "use --labels auto or newer, or a larger --max-label-gap" in err and "\n" not in err
    assert not geoplateforme.hits(".7z") and not geoplateforme.hits(".7z.001")


def test_labels_newer_with_the_years_the_wrong_way_round_is_refused(geoplateforme, tmp_path, capsys):
    assert prepare_54(geoplateforme, tmp_path / "ws", (2015, 2006), "--labels", "newer") == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "geosiam: error: --labels newer labels the newer year, but --years 2015 2006 gives it first: "
        "give the years oldest first (--years 2006 2015)"
    )
    assert geoplateforme.requests == []


def test_labels_newer_when_only_the_older_year_has_labels_is_refused(geoplateforme, tmp_path, capsys):
    populate_dept54(geoplateforme, tmp_path / "src")
    ws = tmp_path / "ws"
    code = prepare_54(
        geoplateforme, ws, (2015, 2018), "--labels", "newer", "--topo-edition", "2018=2012-03-26"
    )
    err = capsys.readouterr().err
    assert code == 2 and "--labels newer needs labels for 2018, which has none (the nearest edition" in err
    assert not geoplateforme.hits(".7z") and not geoplateforme.hits(".7z.001")


def test_with_v3_editions_only_the_years_never_share_the_2019_map(geoplateforme, tmp_path, capsys):
    """The feeds list BD TOPO from 2019 only: 2015 and 2006 have no map of their own."""
    populate_dept54(geoplateforme, tmp_path / "src")
    topos = geoplateforme.deliveries["BDTOPO"]
    for name in [n for n in topos if n.startswith("BDTOPO_2-")]:
        del topos[name]
    geoplateforme.add(ortho_delivery(tmp_path / "src", "54", 2006, [(900, 6850), (905, 6850)]))
    assert prepare_54(geoplateforme, tmp_path / "default", (2006, 2015)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "2015: no labels (the nearest edition, 2019-03-15, is +3.7 years from the image" in out
    assert "Label mode: none" in out and not (tmp_path / "default" / "masks").exists()
    assert prepare_54(geoplateforme, tmp_path / "wide", (2006, 2015), "--max-label-gap", "15") == 0
    out = capsys.readouterr().out
    assert "2015: labels from BD TOPO 3.x edition 2019-03-15, +3.7 years from the image" in out
    assert "2006: no labels (its nearest edition, 2019-03-15, is also 2015's" in out
    tiles = gpd.read_file(tmp_path / "wide" / "tiles.gpkg", layer="tiles")
    assert set(tiles.loc[tiles["mask"].fillna("") != "", "year"]) == {2015}
    assert set(tiles["label_source"].fillna("")) == {"", "2019-03-15"}
