"""geosiam search as a user runs it: workspace years, descriptor files, QGIS output, errors."""

import json
import shutil

import geopandas as gpd
import pytest

from tests.cli import run_cli
from tests.qgis_desktop import qgis_open, stored_style
from tests.retrieval.factory import shared

QUERY = "x3724_y27440"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return shared(tmp_path_factory)


def test_a_tile_finds_its_place_in_the_other_year(ws, tmp_path, capsys):
    query = ws.workspace.tile_path(2015, QUERY)
    out = tmp_path / "matches.gpkg"
    code, stdout, _ = run_cli(
        [
            "search",
            str(query),
            "-k",
            "3",
            "--run",
            "fused",
            "-o",
            str(out),
            "-w",
            str(ws.workspace.root),
            "-q",
        ],
        capsys,
    )
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0].split()[:4] == ["rank", "score", "tile_id", "year"]
    assert lines[1].split()[2:4] == [QUERY, "2000"] and len(lines) == 5
    matches = gpd.read_file(out, layer="matches")
    assert list(matches["rank"]) == [1, 2, 3] and set(matches["year"]) == {2000}
    assert matches.crs == "EPSG:2154"
    assert gpd.read_file(out, layer="query").geometry[0].equals(matches.geometry[0])
    # opened in QGIS, the matches are coloured by rank (green first) and the query outlined
    style = stored_style(out, "matches")
    assert style["attribute"] == "rank" and [c[:2] for c in style["classes"]] == [
        ["1", "rank 1"],
        ["2", "rank 2"],
        ["3", "rank 3"],
    ]
    assert style["classes"][0][2] == "#1a9641" and style["classes"][2][2] == "#d7191c"
    assert stored_style(out, "query")["renderer"] == "singleSymbol"
    shown = qgis_open(f"{out}|layername=matches", f"{out}|layername=query")
    assert shown[0]["classes"] == style["classes"] and shown[1]["renderer"] == "singleSymbol"


def test_search_in_descriptors_of_the_same_model_only(ws, tmp_path, capsys):
    vectors = tmp_path / "v2000.npy"
    root = str(ws.workspace.root)
    assert (
        run_cli(
            [
                "embed",
                f"{ws.workspace.tiles_dir}/2000",
                "-o",
                str(vectors),
                "--run",
                "image-only",
                "-w",
                root,
                "-q",
            ],
            capsys,
        )[0]
        == 0
    )
    own = tmp_path / "mine.tif"  # outside the workspace: no year, no mask
    shutil.copy(ws.workspace.tile_path(2015, QUERY), own)
    code, stdout, _ = run_cli(
        ["search", str(own), "--vectors", str(vectors), "--run", "image-only", "-w", root], capsys
    )
    assert code == 0 and stdout.splitlines()[1].split()[3] == "2000"
    code, _, stderr = run_cli(
        ["search", str(own), "--vectors", str(vectors), "--run", "fused", "-w", root], capsys
    )
    assert code == 2 and "made by model" in stderr and "pass the --run that wrote them" in stderr
    # without --run, the query is embedded by the run that made the descriptors, not the newest
    code, stdout, _ = run_cli(["search", str(own), "--vectors", str(vectors), "-w", root], capsys)
    assert code == 0 and stdout.splitlines()[1].split()[3] == "2000"


def test_descriptors_no_run_made_are_refused(ws, tmp_path, capsys):
    from geosiam.retrieval.descriptors import read_descriptors, write_descriptors

    made = tmp_path / "made.npy"
    root = str(ws.workspace.root)
    assert (
        run_cli(["embed", f"{ws.workspace.tiles_dir}/2000", "-o", str(made), "-w", root, "-q"], capsys)[0]
        == 0
    )
    original = read_descriptors(made)
    orphan = tmp_path / "orphan.npy"  # as if their run had been deleted or trained again
    write_descriptors(orphan, original.vectors, original.table, "a-model-no-run-has")
    query = ws.workspace.tile_path(2015, QUERY)
    code, _, stderr = run_cli(["search", str(query), "--vectors", str(orphan), "-w", root], capsys)
    assert code == 2 and "no run of" in stderr and "that made the descriptors" in stderr


@pytest.mark.parametrize(
    ("query", "extra", "message"),
    [
        ("mine.tif", ["--run", "mask-only"], "has no mask: give --mask FILE"),
        ("mine.tif", ["--run", "image-only"], "cannot tell which year to search"),
        ("none.tif", [], "does not exist"),
    ],
)
def test_bad_queries_are_one_line_errors(ws, tmp_path, capsys, query, extra, message):
    shutil.copy(ws.workspace.tile_path(2015, QUERY), tmp_path / "mine.tif")
    code, _, stderr = run_cli(["search", str(tmp_path / query), *extra, "-w", str(ws.workspace.root)], capsys)
    assert code == 2 and message in stderr and stderr.count("\n") == 1


def _photo(ws, path, tile_ids, year=2015):
    """A JPEG without georeference cut from workspace tiles side by side."""
    import numpy as np
    from PIL import Image

    from geosiam.tiling.read import read_tile

    pixels = np.concatenate([read_tile(ws.workspace.tile_path(year, t)) for t in tile_ids], axis=1)
    Image.fromarray(pixels).save(path, quality=90)
    return path


@pytest.mark.parametrize("run", ["image-only", "fused"])  # a fused network embeds it without mask
def test_a_photo_without_georeference_finds_its_place(ws, tmp_path, capsys, run):
    tiles = ["x3724_y27440", "x3725_y27440"]
    jpeg = _photo(ws, tmp_path / "print.jpg", tiles)
    out = tmp_path / "candidates.gpkg"
    gsd = 250 / 32  # metres per pixel of the tiles it was cut from
    args = ["search", str(jpeg), "--gsd", str(gsd), "--run", run, "--year", "2015", "-o", str(out)]
    code, stdout, _ = run_cli([*args, "-w", str(ws.workspace.root), "-q"], capsys)
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0].split()[:4] == ["rank", "score", "votes", "year"] and len(lines) == 7
    best = lines[1].split()
    assert best[2:4] == ["2/2", "2000"] and best[-2:] == tiles  # both windows agree on the place
    candidates = gpd.read_file(out, layer="matches")
    left = gpd.read_file(ws.workspace.tiles_index).set_index(["tile_id", "year"]).geometry
    assert candidates.geometry[0].equals(left[(tiles[0], 2000)].union(left[(tiles[1], 2000)]).envelope)
    assert list(candidates["rank"]) == [1, 2, 3, 4, 5] and candidates.crs == "EPSG:2154"
    assert stored_style(out, "matches")["attribute"] == "rank"  # coloured by rank in QGIS


def test_a_photo_of_one_tile_needs_no_scale(ws, tmp_path, capsys):
    png = _photo(ws, tmp_path / "scan.png", [QUERY])
    code, stdout, _ = run_cli(
        ["search", str(png), "--run", "image-only", "--in-year", "2000", "-w", str(ws.workspace.root), "-q"],
        capsys,
    )
    assert code == 0 and stdout.splitlines()[1].split()[-1] == QUERY


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--gsd", "1", "--in-year", "2000"], "smaller than one tile of 250 m: check --gsd"),
        (["--gsd", "0", "--in-year", "2000"], "--gsd must be a positive number"),
        (["--mask", "MASK", "--in-year", "2000"], "is a photo, searched by image only: drop --mask"),
        ([], "cannot tell which year to search"),
        (["--run", "mask-only"], "sees masks only and a photo has none"),
    ],
)
def test_bad_photo_searches_are_one_line_errors(ws, tmp_path, capsys, extra, message):
    png = _photo(ws, tmp_path / "scan.png", [QUERY])
    extra = [str(ws.workspace.mask_path(2015, QUERY)) if a == "MASK" else a for a in extra]
    code, _, stderr = run_cli(
        ["search", str(png), "--run", "image-only", *extra, "-w", str(ws.workspace.root)], capsys
    )
    assert code == 2 and message in stderr and stderr.count("\n") == 1


def test_a_tile_takes_no_gsd(ws, capsys):
    query = str(ws.workspace.tile_path(2015, QUERY))
    code, _, stderr = run_cli(["search", query, "--gsd", "2", "-w", str(ws.workspace.root)], capsys)
    assert code == 2 and "is georeferenced, its scale is known: drop --gsd" in stderr


def test_json_gives_the_query_and_each_match_with_its_footprint(ws, tmp_path, capsys):
    query = ws.workspace.tile_path(2015, QUERY)
    out = tmp_path / "m.gpkg"
    args = ["search", str(query), "-k", "2", "--run", "fused", "-w", str(ws.workspace.root), "-q"]
    code, stdout, stderr = run_cli([*args, "--json", "-o", str(out)], capsys)
    found = json.loads(stdout)
    assert code == 0 and "matches written to" in stderr
    assert set(found) == {"query", "in_year", "crs", "matches", "output"}
    assert found["query"]["image"] == str(query) and found["query"]["year"] == 2015
    assert found["in_year"] == 2000 and found["crs"] == "EPSG:2154" and found["output"] == str(out)
    assert [m["rank"] for m in found["matches"]] == [1, 2]
    assert set(found["matches"][0]) == {"rank", "score", "tile_id", "year", "image", "bounds"}
    first = gpd.read_file(out, layer="matches").iloc[0]
    assert found["matches"][0]["tile_id"] == first["tile_id"] == QUERY
    assert found["matches"][0]["bounds"] == list(first.geometry.bounds) == found["query"]["bounds"]


def test_json_gives_a_photos_candidate_footprints(ws, tmp_path, capsys):
    png = _photo(ws, tmp_path / "scan.png", [QUERY])
    args = ["search", str(png), "--run", "image-only", "--in-year", "2000", "-k", "2", "--json"]
    code, stdout, _ = run_cli([*args, "-w", str(ws.workspace.root), "-q"], capsys)
    found = json.loads(stdout)
    assert code == 0 and found["query"] == {"image": str(png), "year": None} and found["in_year"] == 2000
    best = found["matches"][0]
    assert set(best) == {"rank", "score", "votes", "windows", "year", "tiles", "photo", "bounds"}
    assert best["tiles"] == QUERY and best["votes"] == best["windows"] == 1 and len(found["matches"]) == 2
