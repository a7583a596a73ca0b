"""geosiam search as a user runs it: workspace years, descriptor files, QGIS output, errors."""

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
        ("mine.tif", [], "has no mask: give --mask FILE"),
        ("mine.tif", ["--run", "image-only"], "cannot tell which year to search"),
        ("none.tif", [], "does not exist"),
    ],
)
def test_bad_queries_are_one_line_errors(ws, tmp_path, capsys, query, extra, message):
    shutil.copy(ws.workspace.tile_path(2015, QUERY), tmp_path / "mine.tif")
    code, _, stderr = run_cli(["search", str(tmp_path / query), *extra, "-w", str(ws.workspace.root)], capsys)
    assert code == 2 and message in stderr and stderr.count("\n") == 1
