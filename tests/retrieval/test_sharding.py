"""Embedding in shards: separate processes give the serial array and table; a finished shard is
not redone and an interrupted one resumes; a workspace's tiles are packed into its cache once, by
the parent, and the shards only slice it; a Dask scheduler that does not answer is one line."""

import os
import socket
import time

import numpy as np
import pytest

from geosiam.errors import ModelError
from geosiam.model.cache import open_pair_cache
from geosiam.model.embedder import load_embedder
from geosiam.retrieval import sharding
from geosiam.retrieval.embedding import embed_tiles, workspace_tile_cache
from geosiam.retrieval.sharding import ShardJob, embed_shard, embed_sharded, shard_path, split_tiles
from geosiam.retrieval.tilesets import find_tiles
from geosiam.tiling.read import read_many
from tests.cli import run_cli
from tests.retrieval.factory import make_workspace, shared
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
    assert [len(p) for p in split_tiles(tiles, 3, whole=4)] == [4, 4, 4]
    assert [len(p) for p in split_tiles(tiles, 2, whole=5)] == [5, 7]  # whole batches but the last
    assert [len(p) for p in split_tiles(tiles, 4, whole=64)] == [12]


def test_two_processes_keep_a_finished_shard_resume_another_and_give_the_serial_result(setup, tmp_path):
    ws, embedder, tiles, serial = setup
    out = tmp_path / "v.npy"
    first, second, third = split_tiles(tiles, 3, whole=4)
    embed_shard(ShardJob(ws.run, embedder.identity, first, shard_path(out, 0, 3), 4))  # shard 1 finished
    with pytest.raises(KeyboardInterrupt):  # shard 2 stopped after its first chunk of 2 tiles
        embed_tiles(Interrupting(embedder, 2), second, shard_path(out, 1, 3), batch_size=4, chunk=2)
    descriptors, stats = embed_sharded(ws.run, embedder, tiles, out, shards=3, batch_size=4, processes=2)
    assert stats.tiles == len(tiles) and stats.resumed_from == len(first) + 2  # shard 3 from scratch
    same_as_serial(descriptors, serial)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.gpkg", "v.npy"]  # shard files gone


@pytest.fixture
def own(setup, tmp_path):
    """A workspace of its own (its tiles get spoilt), its tiles, their cache root and their serial
    descriptors from the files, in batches of 2."""
    embedder = setup[1]
    workspace = make_workspace(tmp_path / "ws")
    tiles = find_tiles(workspace.tiles_dir / "2015", embedder.input_px, need_masks=True)
    serial = embed_tiles(embedder, tiles, tmp_path / "serial.npy", batch_size=2)[0]
    return workspace, tiles, workspace_tile_cache(workspace, tiles), serial


def identical(descriptors, serial) -> None:
    """Bit for bit: the shards see the batches of the serial run."""
    assert np.array_equal(descriptors.vectors, serial.vectors)
    assert descriptors.table.drop(columns="geometry").equals(serial.table.drop(columns="geometry"))


def spoil_keeping_stats(paths) -> None:
    """Overwrite the files with zeros of the same size and modification time: the cache's key
    is unchanged, and reading any of them now fails."""
    for path in paths:
        stat = path.stat()
        path.write_bytes(bytes(stat.st_size))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_two_shards_pack_the_workspace_cache_once_then_only_slice_it(setup, own, tmp_path):
    ws, embedder = setup[:2]
    workspace, tiles, root, serial = own
    assert not root.exists()
    first, _ = embed_sharded(ws.run, embedder, tiles, tmp_path / "a.npy", 2, batch_size=2, cache_root=root)
    identical(first, serial)
    assert not list(tmp_path.glob(".a.*"))  # shard files removed
    [cache] = root.iterdir()  # the shards' own caches joined into it, and removed
    stamps = {f: f.stat().st_mtime_ns for f in cache.iterdir()}
    spoil_keeping_stats([*tiles.images, *tiles.masks])
    (root / ".shards" / "1of3").mkdir(parents=True)  # as an interrupted sharded packing leaves it
    again, stats = embed_sharded(
        ws.run, embedder, tiles, tmp_path / "b.npy", 2, batch_size=2, processes=1, cache_root=root
    )
    identical(again, serial)
    assert stats.embedded == 12 and list(root.iterdir()) == [cache]  # the leftovers removed
    assert {f: f.stat().st_mtime_ns for f in cache.iterdir()} == stamps  # not packed again
    serial_from_cache, _ = embed_tiles(embedder, tiles, tmp_path / "c.npy", batch_size=2, cache_root=root)
    identical(serial_from_cache, serial)  # the serial run's cache is the same one


def test_an_interrupted_sharded_run_resumes_each_shard_s_packing_and_embedding(
    setup, own, tmp_path, monkeypatch
):
    ws, embedder = setup[:2]
    workspace, tiles, root, serial = own
    out = tmp_path / "v.npy"
    images, masks = read_many(tiles.images, tiles.masks, embedder.input_px)
    run = dict(shards=2, batch_size=2, processes=1, cache_root=root, chunk=2)  # 2 shards of 3 chunks
    monkeypatch.setattr(sharding, "_MODELS", {})  # the shards run here, with the embedder given
    with pytest.raises(KeyboardInterrupt):  # in the second chunk of shard 2
        embed_sharded(ws.run, Interrupting(embedder, stop_at=5), tiles, out, **run)
    assert not out.exists() and [p.name for p in root.iterdir()] == [".shards"]  # packed apart so far
    spoil_keeping_stats([*tiles.images[:8], *tiles.masks[:8]])  # the rows packed: never read again
    descriptors, stats = embed_sharded(ws.run, embedder, tiles, out, **run)
    assert stats.resumed_from == 6 + 2 and stats.embedded == 4
    identical(descriptors, serial)
    assert not list(tmp_path.glob(".v.*"))  # shard files removed
    [cache] = root.iterdir()  # the tiles' cache, the shards' ones joined and removed
    joined = open_pair_cache(cache)
    assert np.array_equal(joined.images[0], images) and np.array_equal(joined.masks[0], masks)


def test_the_workers_of_a_dask_cluster_pack_the_cache_then_slice_it(setup, own, tmp_path):
    from distributed import LocalCluster

    ws, embedder = setup[:2]
    workspace, tiles, root, serial = own
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:

        def embed(name):
            address = cluster.scheduler_address
            return embed_sharded(ws.run, embedder, tiles, tmp_path / name, 2, address, 2, cache_root=root)[0]

        identical(embed("packing.npy"), serial)
        assert len(list(root.glob("*/cache.json"))) == 1 and not (root / ".shards").exists()
        spoil_keeping_stats([*tiles.images, *tiles.masks])  # the second run reads none of them
        identical(embed("packed.npy"), serial)


def test_a_worker_that_finds_another_model_in_the_run_says_so(setup, tmp_path):
    ws, _, tiles, _ = setup
    job = ShardJob(ws.run, "the identity of a former model", tiles, tmp_path / "v.npy", 4)
    with pytest.raises(ModelError, match="changed while embedding"):
        embed_shard(job)
    assert not list(tmp_path.iterdir())


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
