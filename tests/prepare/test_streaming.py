"""``prepare`` over several départements, one at a time, within a disk budget, against the stand-in."""

import io

import geopandas as gpd
import py7zr
import pytest

from geosiam.sources.budget import folder_bytes
from tests.fake_geoplateforme import Fault, populate_departements

DEPTS = ("54", "57", "67")
TILES_PER_DEPT = 50  # 10 km x 5 km of 1 km tiles


def prepare(server, workspace, *more, settings="") -> int:
    """``prepare --dept 54 --dept 57 --dept 67 --years 2015 2019`` as a user runs it; the exit status.
    A new workspace starts with ``settings`` (TOML) in its geosiam.toml."""
    from geosiam.cli import main

    if not workspace.exists():
        workspace.mkdir()
        http = "[sources.http]\nrequest_interval_s = 0.0\nbackoff_s = 0.0\n"
        (workspace / "geosiam.toml").write_text(http + settings)
        more = ("--force", *more)
    depts = [arg for code in DEPTS for arg in ("--dept", code)]
    args = [*depts, "--years", "2015", "2019", "--ign-url", server.url, "--tile-px", "16", "-j", "1"]
    try:
        main(["prepare", *args, "-w", str(workspace), *more])
    except SystemExit as done:
        return done.code or 0
    return 0


def archive_bytes(delivery) -> int:
    return sum(len(data) for name, data in delivery.files.items() if ".7z" in name)


def extracted_bytes(delivery) -> int:
    """What extracting the whole delivery writes (its members' sizes)."""
    parts = [data for name, data in delivery.files.items() if ".7z" in name]
    with py7zr.SevenZipFile(io.BytesIO(b"".join(parts))) as archive:
        return sum(info.uncompressed or 0 for info in archive.list() if not info.is_directory)


def downloads_of(server, delivery) -> dict[str, int]:
    """How many times each archive part of ``delivery`` was downloaded."""
    return {name: len(server.hits(f"/{delivery.name}/{name}")) for name in delivery.files if ".7z" in name}


def assert_every_tile(workspace):
    tiles = gpd.read_file(workspace / "tiles.gpkg", layer="tiles")
    assert sorted(tiles.groupby("zone").size().items()) == [(d, 2 * TILES_PER_DEPT) for d in DEPTS]
    assert all((workspace / path).is_file() for path in tiles["image"])
    masks = tiles[tiles["year"] == 2019]["mask"]
    assert len(masks) == 3 * TILES_PER_DEPT and all((workspace / path).is_file() for path in masks)
    assert len(gpd.read_file(workspace / "pairs.gpkg", layer="pairs")) == 3 * TILES_PER_DEPT


def test_three_departements_without_keeping_downloads_stay_under_a_tight_budget(geoplateforme, tmp_path):
    made = populate_departements(geoplateforme, tmp_path / "src")
    # one département's archives and extracted files at once, plus room for the stage records
    # (about 200 KB for these 300 tiles): well under what keeping all three would take
    peaks = [sum(archive_bytes(d) + extracted_bytes(d) for d in made[code]) for code in DEPTS]
    budget = max(peaks) + 250_000
    assert budget < sum(peaks)
    workspace = tmp_path / "ws"
    status = prepare(geoplateforme, workspace, "--no-keep-downloads", "--max-disk", budget / 1e9)
    assert status == 0
    assert folder_bytes(workspace / "cache") <= budget
    assert_every_tile(workspace)
    assert not any((workspace / "cache" / "downloads").rglob("*.7z*"))  # every département's freed
    assert not any((workspace / "cache" / "extracted").rglob("*.jp2"))
    assert all(
        n == 1
        for d in made.values()
        for delivery in d
        for n in downloads_of(geoplateforme, delivery).values()
    )


def test_keeping_every_download_under_that_budget_is_refused_before_downloading(
    geoplateforme, tmp_path, capsys
):
    made = populate_departements(geoplateforme, tmp_path / "src")
    total = sum(archive_bytes(d) for deliveries in made.values() for d in deliveries)
    status = prepare(geoplateforme, tmp_path / "ws", "--max-disk", 0.9 * total / 1e9)
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert "of archives of all 3 départements, which are kept: add --no-keep-downloads" in err
    assert not geoplateforme.hits(".7z.001")


def test_max_disk_below_one_archive_part_is_refused_before_downloading(geoplateforme, tmp_path, capsys):
    made = populate_departements(geoplateforme, tmp_path / "src")
    largest = max(len(data) for d in made["57"] for name, data in d.files.items() if ".7z" in name)
    status = prepare(geoplateforme, tmp_path / "ws", "--no-keep-downloads", "--max-disk", largest / 2e9)
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert err.startswith("geosiam: error: --max-disk") and "is below the archive part" in err
    assert "raise --max-disk to at least" in err
    assert not geoplateforme.hits(".7z.001") and not geoplateforme.hits(".7z.002")


def test_a_budget_that_holds_the_archives_but_not_their_dalles_is_refused_before_extracting(
    geoplateforme, tmp_path, capsys
):
    made = populate_departements(geoplateforme, tmp_path / "src")
    budget = max(sum(archive_bytes(d) for d in made[code]) for code in DEPTS) + 1_000
    workspace = tmp_path / "ws"
    assert prepare(geoplateforme, workspace, "--no-keep-downloads", "--max-disk", budget / 1e9) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("geosiam: error: extracting ")
    assert f"of the --max-disk {budget / 1e9:.3g} GB: raise --max-disk to at least" in err
    assert folder_bytes(workspace / "cache") <= budget and not any(workspace.rglob("*.jp2"))
    assert len(list((workspace / "cache" / "downloads").rglob("*.ok"))) == 5  # 54's parts (2 + 2 + 1), kept


def test_interrupted_after_the_first_departement_resumes_without_downloading_twice(
    geoplateforme, tmp_path, capsys
):
    made = populate_departements(geoplateforme, tmp_path / "src")
    workspace = tmp_path / "ws"
    second = made["57"][0]  # its BD ORTHO of 2015: refused for good the first time
    geoplateforme.fail(f"/{second.name}/{second.name}.7z.001", Fault("status", 404))
    assert prepare(geoplateforme, workspace, "--no-keep-downloads") == 1  # a runtime failure
    assert not (workspace / "tiles.gpkg").exists()
    assert (workspace / "cache" / "stages" / "departements" / "54.json").exists()
    assert not any((workspace / "cache" / "downloads").rglob("*D054*.7z*"))  # 54 finished: freed

    capsys.readouterr()
    assert prepare(geoplateforme, workspace) == 0  # the settings are the workspace's
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Département")]
    assert said[0].startswith("Département 54: already prepared (") and len(said) == len(DEPTS)
    assert all(line.endswith(" tiles and their masks made.") for line in said[1:])
    assert_every_tile(workspace)
    for deliveries in made.values():
        for delivery in deliveries:
            expected = {name: 1 for name in downloads_of(geoplateforme, delivery)}
            if delivery is second:
                expected[f"{second.name}.7z.001"] = 2  # the refusal, then the download
            assert downloads_of(geoplateforme, delivery) == expected


def test_cells_across_a_border_are_cut_from_both_departements_dalles(geoplateforme, tmp_path):
    """A grid shifted by half a tile: the cells across the 54/57 and 57/67 borders are covered by
    no département alone, and are made from both (the outer half-covered cells are dropped)."""
    populate_departements(geoplateforme, tmp_path / "src")
    workspace = tmp_path / "ws"
    assert prepare(geoplateforme, workspace, settings="[grid]\norigin_x = 500.0\n") == 0
    tiles = gpd.read_file(workspace / "tiles.gpkg", layer="tiles")
    assert (tiles.groupby("year").size() == 29 * 5).all()  # 900.5 to 929.5 km, 5 rows
    across = tiles[tiles["tile_id"].str.startswith(("x909_", "x919_"))]
    assert len(across) == 2 * 2 * 5 and (across["valid_fraction"] == 1.0).all()
    assert set(across["zone"]) == {"57", "67"}  # made with the later département
    assert all((workspace / m).is_file() for m in across[across["year"] == 2019]["mask"])


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_negative_budget_is_a_usage_error(geoplateforme, tmp_path, capsys, value):
    populate_departements(geoplateforme, tmp_path / "src")
    assert prepare(geoplateforme, tmp_path / "ws", "--max-disk", value) == 2
    assert "--max-disk must be a number of GB >= 0" in capsys.readouterr().err
    assert not geoplateforme.requests
