"""Embedding tiles chunk by chunk: same vectors as one call, table aligned, resume after a stop."""

import numpy as np
import pytest

from geosiam.model.embedder import load_embedder
from geosiam.retrieval import embedding
from geosiam.retrieval.descriptors import read_descriptors
from geosiam.retrieval.embedding import embed_tiles, workspace_tile_cache
from geosiam.retrieval.tilesets import find_tiles
from geosiam.tiling.read import read_many
from geosiam.workspace import Workspace
from tests.retrieval.factory import shared


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    ws = shared(tmp_path_factory)
    embedder = load_embedder(ws.run)
    tiles = find_tiles(ws.workspace.tiles_dir / "2015", embedder.input_px, need_masks=True)
    return embedder, tiles


class Interrupting:
    """The real embedder, stopped (as by Ctrl-C) when it is called for the ``stop_at``-th time."""

    def __init__(self, embedder, stop_at):
        self.embedder, self.stop_at, self.calls = embedder, stop_at, 0
        self.identity, self.input_px, self.num_classes = (
            embedder.identity,
            embedder.input_px,
            embedder.num_classes,
        )

    def embed(self, images, masks, batch_size=64):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return self.embedder.embed(images, masks, batch_size=batch_size)


def test_chunks_give_the_vectors_of_one_call_in_table_order(setup, tmp_path):
    embedder, tiles = setup
    descriptors, stats = embed_tiles(embedder, tiles, tmp_path / "v.npy", chunk=5)
    images, masks = read_many(tiles.images, tiles.masks, embedder.input_px)
    assert np.allclose(descriptors.vectors, embedder.embed(images, masks), atol=1e-5)
    found = read_descriptors(tmp_path / "v.npy")
    assert list(found.table["tile_id"]) == tiles.tile_ids and found.identity == embedder.identity
    assert stats.tiles == 12 and stats.resumed_from == 0 and stats.images_per_s > 0


def test_an_interrupted_run_resumes_where_it_stopped(setup, tmp_path):
    embedder, tiles = setup
    out = tmp_path / "v.npy"
    with pytest.raises(KeyboardInterrupt):
        embed_tiles(Interrupting(embedder, stop_at=3), tiles, out, chunk=5)
    assert not out.exists() and not out.with_suffix(".gpkg").exists()
    descriptors, stats = embed_tiles(embedder, tiles, out, chunk=5)
    assert stats.resumed_from == 10 and stats.embedded == 2
    reference, _ = embed_tiles(embedder, tiles, tmp_path / "ref.npy", chunk=5)
    assert np.allclose(descriptors.vectors, reference.vectors, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.gpkg", "ref.npy", "v.gpkg", "v.npy"]


def test_a_partial_run_of_other_inputs_is_started_over(setup, tmp_path):
    embedder, tiles = setup
    out = tmp_path / "v.npy"
    with pytest.raises(KeyboardInterrupt):
        embed_tiles(Interrupting(embedder, stop_at=2), tiles, out, chunk=5)
    fewer = find_tiles(f"{tiles.images[0].parent}/x372[0-5]_*.tif", embedder.input_px, need_masks=True)
    descriptors, stats = embed_tiles(embedder, fewer, out, chunk=5)
    assert stats.resumed_from == 0 and len(descriptors.vectors) == 6


def test_a_complete_output_is_kept_unless_tiles_or_model_change(setup, tmp_path):
    embedder, tiles = setup
    out = tmp_path / "v.npy"
    embed_tiles(embedder, tiles, out, chunk=6)
    stamp = out.stat().st_mtime_ns
    _, stats = embed_tiles(embedder, tiles, out, chunk=6)
    assert stats.embedded == 0 and out.stat().st_mtime_ns == stamp
    fewer = find_tiles(f"{tiles.images[0].parent}/x372[0-3]_*.tif", embedder.input_px, need_masks=True)
    descriptors, stats = embed_tiles(embedder, fewer, out, chunk=6)
    assert stats.embedded == 4 and len(read_descriptors(out).vectors) == 4


def test_a_workspace_s_tiles_are_packed_once_then_embedded_from_the_cache(setup, tmp_path, monkeypatch):
    embedder, tiles = setup
    workspace = tiles_workspace(tiles)
    root = workspace_tile_cache(workspace, tiles)
    assert root.parent == workspace.cache_dir / "tiles"
    with pytest.raises(KeyboardInterrupt):  # stopped in the third chunk: two chunks packed
        embed_tiles(Interrupting(embedder, stop_at=3), tiles, tmp_path / "v.npy", chunk=5, cache_root=root)
    read = []
    real = embedding.read_tile
    monkeypatch.setattr(embedding, "read_tile", lambda path, size=None: read.append(path) or real(path, size))
    first, _ = embed_tiles(embedder, tiles, tmp_path / "v.npy", chunk=5, cache_root=root)
    assert len(read) == 0  # the GeoTIFF reader of the file path is not used with a cache
    reference, _ = embed_tiles(embedder, tiles, tmp_path / "ref.npy", chunk=5)  # from the files
    np.testing.assert_allclose(first.vectors, reference.vectors, atol=1e-5)
    monkeypatch.setattr("geosiam.tiling.read.read_tile", None)  # packed: no GeoTIFF is opened again
    again, stats = embed_tiles(embedder, tiles, tmp_path / "again.npy", cache_root=root)
    np.testing.assert_allclose(again.vectors, reference.vectors, atol=1e-5)
    assert stats.embedded == 12 and len(list(root.iterdir())) == 1


def test_only_a_prepared_workspace_s_own_tiles_get_a_cache(setup, tmp_path):
    embedder, tiles = setup
    assert workspace_tile_cache(tiles_workspace(tiles), tiles) is not None
    assert workspace_tile_cache(Workspace(tmp_path), tiles) is None  # not a workspace
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = find_tiles(str(tiles.images[0]), embedder.input_px, need_masks=False)
    assert workspace_tile_cache(tiles_workspace(tiles), outside) is not None  # still inside
    copied = elsewhere / tiles.images[0].name
    copied.write_bytes(tiles.images[0].read_bytes())
    foreign = find_tiles(str(copied), embedder.input_px, need_masks=False)
    assert workspace_tile_cache(tiles_workspace(tiles), foreign) is None


def tiles_workspace(tiles):
    """The workspace whose tiles/<year>/ holds ``tiles``."""
    return Workspace(tiles.images[0].parents[2])
