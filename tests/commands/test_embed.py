"""geosiam embed as a user runs it: workspace tiles, own imagery, and one-line errors."""

import shutil

import numpy as np
import pytest
from rasterio.transform import from_origin

from geosiam.model.embedder import load_embedder
from geosiam.retrieval.descriptors import read_descriptors
from tests.cli import run_cli
from tests.retrieval.factory import make_run, make_workspace, shared, write_geotiff


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return shared(tmp_path_factory)


def test_embed_a_workspace_folder_with_the_newest_run_once(ws, tmp_path, capsys):
    out = tmp_path / "new" / "vectors.npy"
    args = ["embed", str(ws.workspace.tiles_dir), "-o", str(out), "-w", str(ws.workspace.root), "--quiet"]
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0 and "24 tiles" in stdout and "img/s" in stdout and "run fused" in stdout
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0 and "already holds these 24 tiles embedded by run fused" in stdout
    found = read_descriptors(out)
    assert found.vectors.shape == (24, 16) and found.identity == load_embedder(ws.run).identity
    assert sorted(set(found.table["year"])) == [2000, 2015]
    assert found.table["mask"].str.contains("masks").all()


def test_embed_own_larger_imagery_with_an_image_only_run(ws, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        image = rng.integers(0, 255, (64, 64, 3), np.uint8)  # resampled to the model's 32 px
        write_geotiff(tmp_path / "mine" / f"{name}.tif", image, from_origin(600000, 6500000, 1.0, 1.0))
    out = tmp_path / "mine.npy"
    code, _, _ = run_cli(
        [
            "embed",
            f"{tmp_path}/mine/*.tif",
            "--run",
            "image-only",
            "--year",
            "2021",
            "-o",
            str(out),
            "-w",
            str(ws.workspace.root),
        ],
        capsys,
    )
    found = read_descriptors(out)
    assert code == 0 and list(found.table["tile_id"]) == ["a", "b"] and found.table.crs == "EPSG:2154"
    assert list(found.table["year"]) == [2021] * 2 and list(found.table["mask"]) == ["", ""]
    assert found.identity == load_embedder(ws.image_only_run).identity


def test_a_newer_labels_run_embeds_the_older_year_without_reading_its_masks(tmp_path, capsys):
    workspace = make_workspace(tmp_path / "ws", places=4, changed=0)
    make_run(workspace, "newer", labels="newer")
    shutil.rmtree(workspace.masks_dir / "2000")
    out = tmp_path / "v.npy"
    args = ["embed", str(workspace.tiles_index), "-o", str(out), "-w", str(workspace.root), "-q"]
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    assert "4 tile(s) without labels, from their images alone" in stdout
    found = read_descriptors(out)
    assert list(found.table["mask"] == "") == list(found.table["year"] == 2000)
    code, stdout, _ = run_cli([*args[:3], str(tmp_path / "alone.npy"), *args[4:], "--no-masks"], capsys)
    assert code == 0 and "8 tile(s) without labels" in stdout
    code, _, stderr = run_cli(
        [
            "search",
            str(workspace.tile_path(2000, read_descriptors(out).table["tile_id"][0])),
            "-w",
            str(workspace.root),
        ],
        capsys,
    )
    assert code == 0, stderr  # the older year's query and the newer year's tiles, no masks/2000 needed


def test_embed_in_shards_packs_the_workspace_s_cache_that_a_serial_run_then_reuses(ws, tmp_path, capsys):
    workspace = make_workspace(tmp_path / "ws", places=8)
    args = [str(workspace.tiles_dir / "2015"), "--run", str(ws.run), "-w", str(workspace.root), "-q"]
    sharded = ["-o", str(tmp_path / "shards.npy"), "--shards", "2", "--batch-size", "8"]  # 1 batch: 1 shard
    code, stdout, stderr = run_cli(["embed", *args, *sharded], capsys)
    assert code == 0 and "8 tiles" in stdout, stderr
    [packed] = (workspace.cache_dir / "tiles").glob("*/*/cache.json")  # by the sharded run
    stamp = packed.with_name("images.npy").stat().st_mtime_ns
    serial = ["-o", str(tmp_path / "serial.npy"), "--batch-size", "8"]
    code, _, stderr = run_cli(["embed", *args, *serial], capsys)
    assert code == 0, stderr
    assert packed.with_name("images.npy").stat().st_mtime_ns == stamp  # reused, not packed again
    sharded, serial = read_descriptors(tmp_path / "shards.npy"), read_descriptors(tmp_path / "serial.npy")
    assert np.array_equal(sharded.vectors, serial.vectors)
    assert sharded.table.drop(columns="geometry").equals(serial.table.drop(columns="geometry"))
    assert not list(tmp_path.glob(".shards.*"))


@pytest.mark.parametrize(
    ("tiles", "extra", "message", "status"),
    [
        ("empty", [], "no GeoTIFF (.tif) found in", 1),  # the data: nothing to embed
        ("empty", ["--run", "nope"], "no trained run 'nope'", 2),  # the command line
        ("empty", ["-o", "v.csv"], "use -o vectors.npy", 2),
        ("empty", ["--run", "mask-only", "--no-masks"], "it cannot embed without masks", 2),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_status(ws, tmp_path, capsys, tiles, extra, message, status):
    (tmp_path / "empty").mkdir()
    args = [
        "embed",
        str(tmp_path / tiles),
        "-o",
        str(tmp_path / "v.npy"),
        *extra,
        "-w",
        str(ws.workspace.root),
    ]
    code, _, stderr = run_cli(args, capsys)
    assert code == status and message in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "v.npy").exists()
