"""fetch_sources and ``prepare --dept`` against the stand-in: archives, the WMS-R fallback, resume."""

import logging

import geopandas as gpd
import pytest
import rasterio

from geosiam.errors import ArchiveError, DownloadError
from geosiam.sources.ign.fetch import fetch_sources
from geosiam.workspace import Workspace
from tests.fake_geoplateforme import (
    DEPT54,
    Fault,
    ortho_delivery,
    populate_dept54,
    renamed_7z,
)
from tests.sources.ign.common import ORTHO_2015, TOPO_2019, settings_for

# -- fetch_sources --------------------------------------------------------------------------------


def test_fetch_sources_archives_and_wms_fallback(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    geoplateforme.wms_max = 64  # 4 tiles of 16 px: 4 km blocks
    workspace = Workspace(tmp_path / "ws")
    records = fetch_sources(settings_for(geoplateforme), workspace, None)
    by_year = {r.year: r for r in records}
    ortho, mosaic = by_year[2015], by_year[2000]
    assert ortho.origin == f"ign:{ORTHO_2015}" and ortho.zone == "54" and ortho.acquisition == "2015-01-01"
    assert sorted(p.name for p in ortho.rasters) == [
        "54-2015-0900-6850-LA93-0M50-E080.jp2",
        "54-2015-0905-6850-LA93-0M50-E080.jp2",
    ]
    with rasterio.open(ortho.rasters[0]) as dalle:
        assert dalle.crs == "EPSG:2154" and tuple(dalle.bounds) == (900000, 6845000, 905000, 6850000)
    # 2015: the 2.x edition of 2016, its Shapefiles by theme; 2000: its nearest edition (2012) is
    # too far for labels, so it is named but not downloaded
    assert (ortho.label_date, ortho.label_version) == ("2016-06-15", "2")
    shapefiles = {p.relative_to(p.parents[1]).as_posix() for p in ortho.vectors}
    assert {"E_BATI/BATI_INDIFFERENCIE.SHP", "A_RESEAU_ROUTIER/ROUTE.SHP"} <= shapefiles
    assert "H_ADMINISTRATIF/COMMUNE.SHP" in shapefiles  # no layer list given: every layer
    assert all(p.with_suffix(".DBF").exists() and p.with_suffix(".PRJ").exists() for p in ortho.vectors)
    assert (mosaic.label_date, mosaic.vectors) == ("2012-03-26", ())
    assert not geoplateforme.hits("BDTOPO_2-1_TOUSTHEMES_SHP_LAMB93_D054_2012-03-26.7z")
    assert not geoplateforme.hits(f"{TOPO_2019}.7z")
    assert mosaic.origin == "wms:ORTHOIMAGERY.ORTHOPHOTOS2000-2005" and mosaic.year_end_mosaic
    assert mosaic.acquisition == "2000-2005"
    boxes = []
    for block in mosaic.rasters:
        with rasterio.open(block) as src:
            assert src.crs == "EPSG:2154" and src.count == 3 and src.res == (62.5, 62.5)
            boxes.append(tuple(src.bounds))
    assert len(boxes) == 6 and sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes) == 10_000 * 5_000
    assert min(b[0] for b in boxes) == DEPT54[0] and max(b[2] for b in boxes) == DEPT54[2]
    assert min(b[1] for b in boxes) == DEPT54[1] and max(b[3] for b in boxes) == DEPT54[3]
    getmaps = [q for p, q, _ in geoplateforme.hits("/wms-r") if q.get("REQUEST") == "GetMap"]
    assert all(q["CRS"] == "EPSG:2154" and q["FORMAT"] == "image/geotiff" for q in getmaps)
    assert all(int(q["WIDTH"]) <= 64 and int(q["HEIGHT"]) <= 64 for q in getmaps)


def test_fetch_sources_twice_downloads_nothing_again(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    settings = settings_for(geoplateforme)
    workspace = Workspace(tmp_path / "ws")
    first = fetch_sources(settings, workspace, None)
    downloads = len(geoplateforme.hits(".7z.001")) + len(geoplateforme.hits(".md5"))
    assert fetch_sources(settings, workspace, None) == first
    assert len(geoplateforme.hits(".7z.001")) + len(geoplateforme.hits(".md5")) == downloads


def test_bbox_picks_departements_by_wfs_and_dalles_by_name(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    bbox = (901000.0, 6846000.0, 903000.0, 6848000.0)
    settings = settings_for(geoplateforme, years=(2000, 2015), depts=(), bbox=bbox)
    records = fetch_sources(settings, Workspace(tmp_path / "ws"), bbox)
    ortho = next(r for r in records if r.year == 2015)
    assert [p.name for p in ortho.rasters] == ["54-2015-0900-6850-LA93-0M50-E080.jp2"]
    wfs = geoplateforme.hits("/wfs")
    assert len(wfs) == 1 and wfs[0][1]["BBOX"].endswith("urn:ogc:def:crs:EPSG::2154")
    mosaic = next(r for r in records if r.year == 2000)
    with rasterio.open(mosaic.rasters[0]) as src:
        assert tuple(src.bounds) == (901000, 6846000, 903000, 6848000)  # snapped to whole 1 km tiles


def test_interrupted_download_resumes_without_fetching_verified_parts(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    settings = settings_for(geoplateforme)
    workspace = Workspace(tmp_path / "ws")
    geoplateforme.fail(".7z.002", *[Fault("status", 503)] * 3)
    with pytest.raises(DownloadError, match="run the same command again later to resume"):
        fetch_sources(settings, workspace, None)
    fetch_sources(settings, workspace, None)
    assert len(geoplateforme.hits(".7z.001")) == 1 and len(geoplateforme.hits(".7z.003")) == 1


def test_corrupt_part_twice_is_an_error(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    geoplateforme.fail(".7z.002", Fault("corrupt"), Fault("corrupt"))
    with pytest.raises(DownloadError, match=r"\.7z\.002 failed its MD5 check twice"):
        fetch_sources(settings_for(geoplateforme), Workspace(tmp_path / "ws"), None)


def test_malicious_delivery_is_refused(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    evil = geoplateforme.deliveries["BDORTHO"][ORTHO_2015]
    archive = renamed_7z(b"evil", f"{ORTHO_2015}/../../../evil.jp2")
    evil.files = {f"{ORTHO_2015}.7z": archive}
    with pytest.raises(ArchiveError, match="climbs out with '..'; refusing the archive"):
        fetch_sources(settings_for(geoplateforme), Workspace(tmp_path / "ws"), None)
    assert not list(tmp_path.rglob("evil.jp2"))


def test_delivery_without_md5_is_checked_by_length(geoplateforme, tmp_path, caplog):
    populate_dept54(geoplateforme, tmp_path / "src")
    geoplateforme.add(ortho_delivery(tmp_path / "src", "54", 2019, [(900, 6850)], md5=False))
    with caplog.at_level(logging.WARNING):
        records = fetch_sources(
            settings_for(geoplateforme, years=(2015, 2019)), Workspace(tmp_path / "ws"), None
        )
    assert {r.year for r in records} == {2015, 2019}
    assert "no MD5 published" in caplog.text


# -- prepare end to end -----------------------------------------------------------------------------


def test_prepare_dept_from_ign_to_tiles_and_masks(geoplateforme, tmp_path, capsys):
    """`geosiam prepare --dept 54` as a user runs it: archives for 2015, the WMS-R for 2000."""
    from geosiam.cli import main

    populate_dept54(geoplateforme, tmp_path / "src")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "geosiam.toml").write_text("[sources.http]\nrequest_interval_s = 0.0\n")
    args = [
        "prepare",
        "--dept",
        "54",
        "--years",
        "2000",
        "2015",
        "--ign-url",
        geoplateforme.url,
        "--tile-px",
        "16",
        "-w",
        str(workspace),
        "-j",
        "1",
    ]
    with pytest.raises(SystemExit) as done:
        main([*args, "--force"])  # --force: the workspace holds only the hand-written settings
        raise SystemExit(0)
    assert done.value.code == 0, capsys.readouterr().err
    tiles = gpd.read_file(workspace / "tiles.gpkg")
    assert (tiles.groupby("year").size() == 50).all()  # 10 km x 5 km of 1 km tiles, both years
    origins = dict(zip(tiles["year"], tiles["origin"]))
    assert origins == {2000: "wms:ORTHOIMAGERY.ORTHOPHOTOS2000-2005", 2015: f"ign:{ORTHO_2015}"}
    assert set(tiles["zone"]) == {"54"}
    assert len(gpd.read_file(workspace / "pairs.gpkg", layer="pairs")) == 50
    with rasterio.open(workspace / "masks" / "2015" / "x900_y6845.tif") as mask:
        assert mask.read(1).max() > 0  # the BD TOPO building at the corner was burnt
    requests = len(geoplateforme.requests)
    with pytest.raises(SystemExit):
        main(args)
        raise SystemExit(0)
    assert len(geoplateforme.requests) == requests  # a prepared workspace needs no network
