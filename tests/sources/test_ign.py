"""IGN's download service: names, feeds and paging, choices, and fetch_sources against a fake server."""

import logging

import geopandas as gpd
import pytest
import rasterio

from geosiam.config import AreaSettings, GridSettings, HttpSettings, Settings, SourceSettings
from geosiam.errors import ArchiveError, DownloadError, SettingsError, SourceError
from geosiam.sources import ign
from geosiam.sources.download import HttpClient
from geosiam.workspace import Workspace
from tests.fake_geoplateforme import (
    DEPT54,
    Fault,
    listed_only,
    ortho_delivery,
    populate_dept54,
    renamed_7z,
)

ORTHO_2015 = "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01"
TOPO_2019 = "BDTOPO_3-0_TOUSTHEMES_GPKG_LAMB93_D054_2019-03-15"


def settings_for(server, years=(2000, 2015), depts=("54",), bbox=(), **sources):
    return Settings(
        years=list(years),
        grid=GridSettings(tile_size_m=1000.0, tile_px=16),
        area=AreaSettings(depts=list(depts), bbox=list(bbox)),
        sources=SourceSettings(
            ign_url=server.url,
            http=HttpSettings(request_interval_s=0, backoff_s=0, retries=2, timeout_s=5),
            **sources,
        ),
    )


def delivery(name):
    return ign.parse_delivery("BDTOPO" if name.startswith("BDTOPO") else "BDORTHO", name)


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fields",
    [
        (
            "BDORTHO_2-0_RVB-0M20_JP2-E080_LAMB93_D075_2024-01-01",
            dict(
                product="BDORTHO",
                version="2-0",
                bands="RVB",
                resolution="0M20",
                format="JP2-E080",
                crs="LAMB93",
                zone="D075",
                edition="2024-01-01",
            ),
        ),
        ("ORTHOHR_1-0_RVB-0M20_JP2-E080_LAMB93_D006_2020-01-01", dict(product="ORTHOHR", zone="D006")),
        ("BDORTHO_1-0_RVB-0M20_JP2-E080_LAMB93_D02A_2021-01-01", dict(zone="D02A", version="1-0")),
        ("BDORTHO_2-0_RVB-0M50_JP2-E080_UTM20W84GUAD_D971_2022-01-01", dict(crs="UTM20W84GUAD", zone="D971")),
        ("BDORTHO_1-0_IRC-0M15_JP2-E080_LAMB93_D075_2021-01-01", dict(bands="IRC", resolution="0M15")),
        (
            "BDTOPO_3-5_TOUSTHEMES_GPKG_LAMB93_D031_2026-06-15",
            dict(product="BDTOPO", version="3-5", format="GPKG", zone="D031", edition="2026-06-15"),
        ),
        ("BDTOPO_3-3_TOUSTHEMES_GPKG_RGAF09UTM20_D978_2024-03-15", dict(crs="RGAF09UTM20", zone="D978")),
    ],
)
def test_delivery_names(name, fields):
    parsed = delivery(name)
    assert {key: getattr(parsed, key) for key in fields} == fields


def test_other_entries_are_not_deliveries():
    assert delivery("BDORTHO_2-0_GRAPHE-MOSAIQUAGE_LAMB93_D075_2024-01-01") is None
    assert delivery("readme.pdf") is None


def test_resolution_in_metres():
    assert [
        delivery(f"BDORTHO_2-0_RVB-{r}_JP2-E080_LAMB93_D075_2024-01-01").resolution_m
        for r in ("0M50", "0M20", "0M15", "5M00")
    ] == [0.5, 0.2, 0.15, 5.0]


@pytest.mark.parametrize(
    "name, bounds",
    [
        ("21-2017-0785-6715-LA93-0M50-E080.jp2", (785000, 6710000, 790000, 6715000)),  # Y is the top edge
        ("49-2022-0440-6700-LA93-0M20-IRC-E080.jp2", (440000, 6695000, 445000, 6700000)),
        ("974-2022-0340-7640-U40S-0M20-E080.jp2", (340000, 7635000, 345000, 7640000)),
        ("2A-2021-1175-6130-LA93-0M20-E080.jp2", (1175000, 6125000, 1180000, 6130000)),
        ("metadata.xml", None),
    ],
)
def test_dalle_bounds(name, bounds):
    assert ign.dalle_bounds(name) == bounds


def test_pick_dalles_in_the_area_with_their_companions():
    base = "D/BDORTHO/1_DONNEES/BDO/"
    names = [
        base + n
        for n in (
            "54-2015-0900-6850-LA93-0M50-E080.jp2",
            "54-2015-0905-6850-LA93-0M50-E080.jp2",
            "54-2015-0900-6850-LA93-0M50-E080.tab",
            "54-2015-0905-6850-LA93-0M50-E080.tab",
            "metadata.xml",
        )
    ]
    picked = ign.pick_dalles(names, (901000, 6846000, 902000, 6847000))
    assert sorted(picked) == sorted([names[0], names[2]])
    assert sorted(ign.pick_dalles(names, None)) == sorted(names[:4])


def test_dalle_size_is_read_from_the_names():
    names = ["54-2004-0900-6850-LA93-0M50-E080.jp2", "54-2004-0901-6850-LA93-0M50-E080.jp2"]
    assert ign.dalle_step(names) == 1000
    assert ign.pick_dalles(names, (901500, 6849000, 901600, 6849100)) == [names[1]]
    assert ign.dalle_step(names[:1]) == 5000


# -- choices --------------------------------------------------------------------------------------

ORTHOS = [
    delivery(n)
    for n in (
        "BDORTHO_1-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01",
        "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01",
        "BDORTHO_2-0_RVB-0M20_JP2-E080_LAMB93_D054_2015-01-01",
        "BDORTHO_2-0_IRC-0M50_JP2-E080_LAMB93_D054_2012-01-01",
        "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D057_2012-01-01",
    )
]


def test_choose_ortho_prefers_coarsest_then_version_2():
    assert (
        ign.choose_ortho(ORTHOS, 2015, "D054").name == "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01"
    )
    assert ign.choose_ortho(ORTHOS, 2015, "D054", "0M20").resolution == "0M20"
    assert ign.choose_ortho(ORTHOS, 2012, "D054") is None  # IRC only; D057 is another zone
    with pytest.raises(SourceError, match="exists at 0M20, 0M50, not 0M15: use --resolution 0M20"):
        ign.choose_ortho(ORTHOS, 2015, "D054", "0M15")


TOPOS = [
    delivery(n)
    for n in (
        "BDTOPO_3-0_TOUSTHEMES_GPKG_LAMB93_D054_2019-03-15",
        "BDTOPO_3-3_TOUSTHEMES_GPKG_LAMB93_D054_2023-06-15",
        "BDTOPO_3-4_TOUSTHEMES_GPKG_LAMB93_D054_2024-12-15",
        "BDTOPO_3-4_TOUSTHEMES_SHP_LAMB93_D054_2024-12-15",
        "BDTOPO_3-0_TOUSTHEMES_SHP_LAMB93_D054_2015-06-15",
        "BDTOPO_2-2_TOUSTHEMES_SHP_LAMB93_D054_2016-06-15",
        "BDTOPO_2-1_TOUSTHEMES_SHP_LAMB93_D054_2012-03-26",
    )
]


def test_choose_topo_nearest_edition_whatever_its_data_model_or_the_one_asked():
    assert ign.choose_topo(TOPOS, 2000, "D054").edition == "2012-03-26"  # the gap is judged later
    assert ign.choose_topo(TOPOS, 2015, "D054").name == "BDTOPO_2-2_TOUSTHEMES_SHP_LAMB93_D054_2016-06-15"
    assert ign.choose_topo(TOPOS, 2015, "D054").data_model == "2"  # v3 SHP of 2015 is not read
    assert ign.choose_topo(TOPOS, 2019, "D054").edition == "2019-03-15"
    assert ign.choose_topo(TOPOS, 2023, "D054").edition == "2023-06-15"
    assert ign.choose_topo(TOPOS, 2030, "D054").format == "GPKG"  # GPKG over SHP for one edition
    assert ign.choose_topo(TOPOS, 2000, "D054", "2019-03-15").version == "3-0"
    with pytest.raises(
        SourceError, match="no BD TOPO edition 2016-01-01.*2012-03-26, 2016-06-15, 2019-03-15"
    ):
        ign.choose_topo(TOPOS, 2016, "D054", "2016-01-01")
    assert ign.choose_topo(TOPOS, 2015, "D055") is None


# -- feeds ----------------------------------------------------------------------------------------


def test_feed_paging_reads_every_page_with_the_largest_limit(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path)
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        found = ign.list_deliveries(http, geoplateforme.url, "BDORTHO", "D054")
    names = {d.name for d in found}
    assert ORTHO_2015 in names and len(found) == 60 + 5  # the graph is not a delivery; D057 filtered
    queries = [q for path, q, _ in geoplateforme.requests if path.endswith("/resource/BDORTHO")]
    assert [(q["page"], q["limit"], q["zone"]) for q in queries] == [("1", "50", "D054"), ("2", "50", "D054")]


def test_feed_paging_with_totalentries_only(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path)
    geoplateforme.pagecount = False
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        assert len(ign.list_deliveries(http, geoplateforme.url, "BDORTHO", "D054")) == 65


def test_detail_feed_gives_parts_lengths_and_local_urls(geoplateforme, tmp_path):
    made = populate_dept54(geoplateforme, tmp_path)
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        files = ign.delivery_files(http, geoplateforme.url, delivery(ORTHO_2015))
    parts = ign.archive_parts(delivery(ORTHO_2015), files)
    assert [f.name for f in parts] == [f"{ORTHO_2015}.7z.00{i}" for i in (1, 2, 3)]
    assert [f.length for f in parts] == [len(made["ortho"].files[f.name]) for f in parts]
    assert all(f.url.startswith(geoplateforme.url + "/telechargement/download/BDORTHO/") for f in files)


def test_parse_feed_reads_gpf_dl_attributes():
    text = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:gpf_dl="https://data.geopf.fr/annexes/ressources/xsd/'
        'gpf_dl.xsd" gpf_dl:pagecount="141" gpf_dl:totalentries="1405"><entry>'
        "<title>BDORTHO_2-0_RVB-0M20_JP2-E080_LAMB93_D075_2024-01-01</title>"
        '<link href="https://data.geopf.fr/telechargement/resource/BDORTHO/X" type="application/atom+xml"/>'
        '<gpf_dl:zone term="D075" label="D075 Paris"/><gpf_dl:editionDate>2024-01-01</gpf_dl:editionDate>'
        "</entry></feed>"
    )
    page = ign.parse_feed(text)
    assert (page.pagecount, page.totalentries) == (141, 1405)
    entry = page.entries[0]
    assert (entry.zone, entry.edition_date, entry.type) == ("D075", "2024-01-01", "application/atom+xml")
    with pytest.raises(DownloadError, match="not an Atom feed"):
        ign.parse_feed("<html/>")


# -- fetch_sources --------------------------------------------------------------------------------


def test_fetch_sources_archives_and_wms_fallback(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    geoplateforme.wms_max = 64  # 4 tiles of 16 px: 4 km blocks
    workspace = Workspace(tmp_path / "ws")
    records = ign.fetch_sources(settings_for(geoplateforme), workspace, None)
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
    first = ign.fetch_sources(settings, workspace, None)
    downloads = len(geoplateforme.hits(".7z.001")) + len(geoplateforme.hits(".md5"))
    assert ign.fetch_sources(settings, workspace, None) == first
    assert len(geoplateforme.hits(".7z.001")) + len(geoplateforme.hits(".md5")) == downloads


def test_bbox_picks_departements_by_wfs_and_dalles_by_name(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    bbox = (901000.0, 6846000.0, 903000.0, 6848000.0)
    settings = settings_for(geoplateforme, years=(2000, 2015), depts=(), bbox=bbox)
    records = ign.fetch_sources(settings, Workspace(tmp_path / "ws"), bbox)
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
        ign.fetch_sources(settings, workspace, None)
    ign.fetch_sources(settings, workspace, None)
    assert len(geoplateforme.hits(".7z.001")) == 1 and len(geoplateforme.hits(".7z.003")) == 1


def test_corrupt_part_twice_is_an_error(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    geoplateforme.fail(".7z.002", Fault("corrupt"), Fault("corrupt"))
    with pytest.raises(DownloadError, match=r"\.7z\.002 failed its MD5 check twice"):
        ign.fetch_sources(settings_for(geoplateforme), Workspace(tmp_path / "ws"), None)


def test_malicious_delivery_is_refused(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    evil = geoplateforme.deliveries["BDORTHO"][ORTHO_2015]
    archive = renamed_7z(b"evil", f"{ORTHO_2015}/../../../evil.jp2")
    evil.files = {f"{ORTHO_2015}.7z": archive}
    with pytest.raises(ArchiveError, match="climbs out with '..'; refusing the archive"):
        ign.fetch_sources(settings_for(geoplateforme), Workspace(tmp_path / "ws"), None)
    assert not list(tmp_path.rglob("evil.jp2"))


def test_delivery_without_md5_is_checked_by_length(geoplateforme, tmp_path, caplog):
    populate_dept54(geoplateforme, tmp_path / "src")
    geoplateforme.add(ortho_delivery(tmp_path / "src", "54", 2019, [(900, 6850)], md5=False))
    with caplog.at_level(logging.WARNING):
        records = ign.fetch_sources(
            settings_for(geoplateforme, years=(2015, 2019)), Workspace(tmp_path / "ws"), None
        )
    assert {r.year for r in records} == {2015, 2019}
    assert "no MD5 published" in caplog.text


def test_a_year_with_neither_archive_nor_layer_lists_what_exists(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path / "src")
    with pytest.raises(
        SourceError,
        match=r"no BD ORTHO for 1990 in département 54: archives exist for 2015, 2018; "
        r"WMS-R layers cover 1950-1965, 2000-2005, 2015",
    ):
        ign.fetch_sources(settings_for(geoplateforme, years=(1990, 2015)), Workspace(tmp_path / "ws"), None)
    assert not geoplateforme.hits(".7z.001")  # planned before any download


def test_unknown_departement_fails_before_any_request(geoplateforme, tmp_path):
    with pytest.raises(SettingsError, match="unknown département '99': use a code among 01, 02.*2A, 2B.*971"):
        ign.fetch_sources(settings_for(geoplateforme, depts=("99",)), Workspace(tmp_path), None)
    assert geoplateforme.requests == []


def test_zone_filter_is_also_applied_client_side(geoplateforme, tmp_path):
    geoplateforme.add(
        listed_only("BDORTHO", "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D057_2015-01-01", "D054", "2015-01-01")
    )
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        assert ign.list_deliveries(http, geoplateforme.url, "BDORTHO", "D054") == []


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
    assert len(gpd.read_file(workspace / "pairs.gpkg")) == 50
    with rasterio.open(workspace / "masks" / "2015" / "x900_y6845.tif") as mask:
        assert mask.read(1).max() > 0  # the BD TOPO building at the corner was burnt
    requests = len(geoplateforme.requests)
    with pytest.raises(SystemExit):
        main(args)
        raise SystemExit(0)
    assert len(geoplateforme.requests) == requests  # a prepared workspace needs no network


def geosiam(*args) -> int:
    """Run the CLI as a user would; its exit status."""
    from geosiam.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as done:
        return done.code or 0
    return 0


def prepare_54(server, workspace, years, *more, fresh=True) -> int:
    """``prepare --dept 54``; ``fresh``: in a new workspace (its settings written, --force)."""
    if fresh:
        workspace.mkdir(exist_ok=True)
        (workspace / "geosiam.toml").write_text("[sources.http]\nrequest_interval_s = 0.0\n")
        more = ("--force", *more)
    years = [str(y) for y in years]
    return geosiam(
        "prepare", "--dept", "54", "--years", *years, "--ign-url", server.url, "--tile-px", "16",
        "-w", workspace, "-j", "1", *more,
    )  # fmt: skip


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
