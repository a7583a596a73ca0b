"""``geosiam sources`` as a user runs it, against the fake Géoplateforme."""

import json

import pytest

from tests.cli import run_cli
from tests.fake_geoplateforme import populate_dept54


@pytest.fixture
def dept54(geoplateforme, tmp_path):
    populate_dept54(geoplateforme, tmp_path)
    return geoplateforme


def test_lists_editions_of_a_departement(dept54, capsys):
    code, out, _ = run_cli(
        ["sources", "--dept", "54", "--ign-url", dept54.url, "--request-interval", "0"], capsys
    )
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert ["Département", "54"] in lines
    size = len(
        b"".join(
            v
            for k, v in dept54.deliveries["BDORTHO"][
                "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01"
            ].files.items()
            if ".7z" in k
        )
    )
    row = next(
        line for line in out.splitlines() if "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01" in line
    )
    assert row.split()[:7] == ["BD", "ORTHO", "RVB", "2015", "2-0", "0M50", "JP2-E080"]
    assert f"{size / 1000:.1f} KB" in row
    assert any(line[:5] == ["BD", "TOPO", "2019-03-15", "3-0", "-"] for line in lines)
    assert any(line[:6] == ["BD", "TOPO", "2016-06-15", "2-2", "-", "SHP"] for line in lines)  # 2.x
    assert "IRC" not in out and "D057" not in out  # RGB editions of 54 only
    assert "BDTOPO_3-0_TOUSTHEMES_SHP" not in out  # v3 is read as GPKG
    assert out.strip().endswith("fallback for years without an archive): 1950-1965, 2000-2005, 2015")


def test_bbox_finds_its_departements(dept54, capsys, monkeypatch):
    monkeypatch.setenv("GEOSIAM_IGN_URL", dept54.url)
    args = [
        "sources",
        "--bbox",
        "909000",
        "6846000",
        "911000",
        "6847000",
        "--request-interval",
        "0",
        "--no-sizes",
    ]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "Département 54" in out and "Département 57" in out
    assert not dept54.hits("/resource/BDORTHO/BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dept", "99"], "unknown département '99': use a code among"),
        ([], "no area given: use --dept"),
        (["--bbox", "5", "5", "1", "1"], "empty --bbox"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(dept54, capsys, args, message):
    code, _, err = run_cli(["sources", *args, "--ign-url", dept54.url, "--request-interval", "0"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0]
    assert dept54.requests == []


def test_wrong_service_url_is_one_line_and_a_runtime_failure(dept54, capsys):
    code, _, err = run_cli(["sources", "--dept", "54", "--ign-url", dept54.url + "/nowhere"], capsys)
    assert code == 1 and "HTTP 404" in err and "check --ign-url" in err and len(err.strip().splitlines()) == 1


def test_aoi_file_in_any_crs(dept54, capsys, tmp_path):
    import geopandas as gpd
    import shapely

    aoi = tmp_path / "aoi.geojson"
    area = gpd.GeoDataFrame(geometry=[shapely.box(911000, 6846000, 912000, 6847000)], crs="EPSG:2154")
    area.to_crs("EPSG:4326").to_file(aoi)
    args = ["sources", "--aoi", str(aoi), "--ign-url", dept54.url, "--request-interval", "0", "--no-sizes"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "Département 57" in out and "Département 54" not in out


def test_json_lists_the_same_editions(dept54, capsys):
    args = ["sources", "--dept", "54", "--ign-url", dept54.url, "--request-interval", "0"]
    text = run_cli(args, capsys)[1]
    code, out, _ = run_cli([*args, "--json"], capsys)
    found = json.loads(out)
    assert code == 0 and set(found) == {"editions", "wms_years"}
    keys = "departement product year edition version resolution format size_bytes delivery"
    assert set(found["editions"][0]) == set(keys.split())
    assert {e["delivery"] for e in found["editions"]} == {
        line.split()[-1] for line in text.splitlines() if line.startswith("  BD ")
    }
    ortho = next(
        e
        for e in found["editions"]
        if e["delivery"].startswith("BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D054_2015")
    )
    assert (ortho["product"], ortho["year"], ortho["resolution"], ortho["departement"]) == (
        "BD ORTHO",
        2015,
        "0M50",
        "54",
    )
    assert ortho["size_bytes"] > 0 and found["wms_years"][:2] == [1950, 1951] and 2015 in found["wms_years"]
