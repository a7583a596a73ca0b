"""geosiam changes as a user runs it: the files in the run folder, --top, --all, one-line errors."""

import shutil

import geopandas as gpd
import pytest
import rasterio

from tests.cli import run_cli
from tests.retrieval.factory import make_run
from tests.retrieval.ground_truth import PLACES, TRAIN, changing_world, indexed_copy


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return changing_world(tmp_path_factory)


def test_changes_writes_the_layer_and_raster_in_the_run_folder_and_prints_the_top(world, capsys):
    code, stdout, _ = run_cli(
        ["changes", "--run", "fused", "--top", "3", "-w", str(world.workspace.root)], capsys
    )
    assert code == 0
    layer = gpd.read_file(world.run / "changes.gpkg", layer="changes")
    with rasterio.open(world.run / "changes.tif") as src:
        assert (src.read(1) != src.nodata).sum() == len(layer) == PLACES - len(TRAIN)
    lines = stdout.splitlines()
    assert "distance" in lines[0] and f"{len(layer)} places:" in lines[-1]
    top = lines[1:4]
    expected = layer.sort_values("distance", ascending=False, kind="stable")["tile_id"].head(3).tolist()
    assert [line.split()[1] for line in top] == expected
    distances = [float(line.split()[2]) for line in top]
    assert distances == sorted(distances, reverse=True)


def test_all_places_and_an_output_of_one_s_choice(world, tmp_path, capsys):
    output = tmp_path / "map" / "all.gpkg"
    code, stdout, _ = run_cli(
        ["changes", "--all", "-o", str(output), "-w", str(world.workspace.root), "-q"], capsys
    )
    assert code == 0 and "16 places" in stdout and "distance" not in stdout  # no --top: no table
    layer = gpd.read_file(output, layer="changes")
    assert len(layer) == PLACES and set(layer["split"]) == {"train", "test"}
    assert output.with_suffix(".tif").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "nope"], "no trained run 'nope'"),
        (["--split", "dev"], "'dev' is not one of 'train', 'val', 'test'"),
        (["--split", "val"], "split 'val' has no pairs (test: 12, train: 4)"),
        (["--split", "val", "--all"], "--split val and --all ask for different places: give one of them"),
        (["-o", "changes.shp"], "use -o changes.gpkg"),
        (["--top", "-1"], "Invalid value for '--top'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(world, capsys, args, message):
    code, _, stderr = run_cli(["changes", *args, "-w", str(world.workspace.root)], capsys)
    assert code == 2 and message in stderr
    assert stderr.count("\n") == 1


def test_an_unprepared_workspace_or_one_without_runs_says_what_to_do(tmp_path, capsys):
    code, _, stderr = run_cli(["changes", "-w", str(tmp_path)], capsys)
    assert code == 2 and "run 'geosiam prepare' first" in stderr


def test_an_index_of_another_run_s_model_is_a_one_line_error(world, capsys):
    other = make_run(world.workspace, "other-model", seed=5)
    shutil.copytree(indexed_copy(world, "indexed-flat", "flat") / "index", other / "index")
    code, _, err = run_cli(["changes", "--run", other.name, "-w", str(world.workspace.root)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "was built from descriptors of model" in err and f"geosiam index build --run {other.name}" in err
    assert not (other / "changes.gpkg").exists()
