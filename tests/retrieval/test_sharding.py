"""Embedding in shards: separate processes give the serial array and table; a finished shard is
not redone and an interrupted one resumes; a Dask scheduler that does not answer is one line."""

import socket
import time

import numpy as np
import pytest

from geosiam.model.embedder import load_embedder
from geosiam.retrieval.embedding import embed_tiles
from geosiam.retrieval.sharding import ShardJob, embed_shard, embed_sharded, shard_path, split_tiles
from geosiam.retrieval.tilesets import find_tiles
from tests.cli import run_cli
from tests.retrieval.factory import shared
from tests.retrieval.test_embedding import Interrupting


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    ws = shared(tmp_path_factory)
    embedder = load_embedder(ws.run)
    tiles = find_tiles(ws.workspace.tiles_dir / "2015", embedder.input_px, need_masks=True)
    serial = embed_tiles(embedder, tiles, tmp_path_factory.mktemp("serial") / "serial.npy")[0]
    return ws, embedder, tiles, serial


def same_as_serial(descriptors, serial) -> None:
    assert descriptors.vectors.shape == serial.vectors.shape
    assert np.allclose(descriptors.vectors, serial.vectors, atol=1e-5)
    assert descriptors.table.drop(columns="geometry").equals(serial.table.drop(columns="geometry"))
    assert descriptors.identity == serial.identity


def test_shards_cut_the_tiles_in_order_into_near_equal_runs(setup):
    tiles = setup[2]
    parts = split_tiles(tiles, 5)
    assert [len(p) for p in parts] == [2, 3, 2, 3, 2]
    assert [t for p in parts for t in p.tile_ids] == tiles.tile_ids
    assert [m for p in parts for m in p.masks] == tiles.masks
    assert len(split_tiles(tiles, 100)) == len(tiles)


def test_two_processes_keep_a_finished_shard_resume_another_and_give_the_serial_result(setup, tmp_path):
    ws, embedder, tiles, serial = setup
    out = tmp_path / "v.npy"
    first, second, third = split_tiles(tiles, 3)
    embed_shard(ShardJob(ws.run, first, shard_path(out, 0, 3), 64))  # shard 1 finished
    with pytest.raises(KeyboardInterrupt):  # shard 2 stopped after its first chunk of 2 tiles
        embed_tiles(Interrupting(embedder, 2), second, shard_path(out, 1, 3), chunk=2)
    descriptors, stats = embed_sharded(ws.run, embedder.identity, tiles, out, shards=3, processes=2)
    assert stats.tiles == len(tiles) and stats.resumed_from == len(first) + 2  # shard 3 from scratch
    same_as_serial(descriptors, serial)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.gpkg", "v.npy"]  # shard files gone


def test_a_dask_scheduler_that_does_not_answer_is_a_one_line_error(setup, tmp_path, capsys):
    ws = setup[0]
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "v.npy"
    args = ["embed", str(ws.workspace.tiles_dir / "2015"), "-o", str(out), "--run", "fused"]
    started = time.perf_counter()
    code, _, err = run_cli(
        [*args, "--dask-scheduler", f"tcp://127.0.0.1:{port}", "-w", str(ws.workspace.root)], capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"the Dask scheduler tcp://127.0.0.1:{port} does not answer" in err
    assert time.perf_counter() - started < 30 and not out.exists()
