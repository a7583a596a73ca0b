"""Chunks: which tiles are made together, where their cells lie, markers, and where jobs run."""

import multiprocessing
import os
import time

import pytest

from geosiam.tiling import chunks
from geosiam.tiling.grid import Grid


def grid(size_m, px):
    return Grid("EPSG:2154", 0.0, 0.0, size_m, px)


@pytest.mark.parametrize(
    ("size_m", "px", "tiles"),
    [
        (1000.0, 256, 5),  # 5 tiles = one 5 km dalle, 1280 px
        (250.0, 64, 20),  # 20 tiles = one dalle, 1280 px: no need for several dalles
        (250.0, 32, 20),  # 640 px a dalle: still one (2 dalles would pass CHUNK_PX)
        (100.0, 16, 50),  # 800 px a dalle
        (5000.0, 4096, 1),  # one tile per dalle
        (300.0, 64, 16),  # 5 km is no whole number of tiles: about CHUNK_PX
    ],
)
def test_chunks_follow_the_dalle_grid_where_the_tile_size_divides_it(size_m, px, tiles):
    assert chunks.chunk_tiles(grid(size_m, px)) == tiles


def test_cells_are_grouped_into_aligned_chunks_in_a_stable_order():
    g = grid(1000.0, 256)  # 5 tiles a chunk
    cells = [(7, 0), (0, 0), (4, 4), (5, 5), (0, 6)]
    planned = chunks.plan(g, cells)
    assert [(c.col0, c.row0) for c in planned] == [(0, 0), (5, 0), (0, 5), (5, 5)]
    assert planned[0].cells == ((0, 0), (4, 4)) and planned[0].key == "x0_y0"
    assert sorted(cell for c in planned for cell in c.cells) == sorted(cells)


def test_a_cells_slices_in_the_chunk_canvas_match_its_footprint():
    g = grid(1000.0, 256)
    chunk = chunks.Chunk(5, 10, 5, ((6, 13),))
    assert chunk.shape(g) == (1280, 1280) and chunk.bounds(g) == (5000.0, 10000.0, 10000.0, 15000.0)
    rows, cols = chunk.cell_slices(g, 6, 13)
    transform = chunk.transform(g)
    left, top = transform * (cols.start, rows.start)
    assert (left, top) == (6000.0, 14000.0) == (g.bounds(6, 13)[0], g.bounds(6, 13)[3])
    assert rows.stop - rows.start == cols.stop - cols.start == 256


def test_a_marker_is_read_back_only_for_the_same_inputs(tmp_path):
    marker = tmp_path / "stages" / "x0_y0.json"
    assert chunks.read_marker(marker, "abc") is None
    chunks.write_marker(marker, "abc", [{"tile_id": "x0_y0"}])
    assert chunks.read_marker(marker, "abc") == [{"tile_id": "x0_y0"}]
    assert chunks.read_marker(marker, "other inputs") is None
    marker.write_text("{ half written")
    assert chunks.read_marker(marker, "abc") is None


def _records(job):
    return [{"job": job}, {"job": -job}]


def test_jobs_run_inline_or_in_processes_with_the_same_records():
    inline = chunks.Runner(1).run(_records, [1, 2, 3], desc="test")
    pooled = chunks.Runner(2).run(_records, [1, 2, 3], desc="test")
    assert inline == [{"job": 1}, {"job": -1}, {"job": 2}, {"job": -2}, {"job": 3}, {"job": -3}]
    assert sorted(r["job"] for r in pooled) == sorted(r["job"] for r in inline)


def _environment(job):
    import sys

    return [{"threads": os.environ.get("GDAL_NUM_THREADS"), "opj": os.environ.get("OPJ_NUM_THREADS"),
             "preloaded": all(name in sys.modules for name in chunks.PRELOAD)}]  # fmt: skip


def test_decoding_threads_share_the_cores_between_processes(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert [chunks.decoder_threads(p) for p in (1, 2, 4, 16, 32)] == [16, 8, 4, 1, 1]


def test_workers_decode_with_their_share_of_the_cores_unless_the_user_says(monkeypatch):
    monkeypatch.delenv("GDAL_NUM_THREADS", raising=False)
    share = str(chunks.decoder_threads(2))
    records = chunks.Runner(2).run(_environment, [1, 2], desc="test")
    assert [(r["threads"], r["opj"]) for r in records] == [(share, share)] * 2
    monkeypatch.setattr(os, "cpu_count", lambda: 8)  # 2 jobs for 4 processes: 2 workers, 4 threads each
    records = chunks.Runner(4).run(_environment, [1, 2], desc="test")
    assert [(r["threads"], r["opj"]) for r in records] == [("4", "4")] * 2
    monkeypatch.setenv("GDAL_NUM_THREADS", "3")
    records = chunks.Runner(2).run(_environment, [1, 2], desc="test")
    assert [(r["threads"], r["opj"]) for r in records] == [("3", "3")] * 2


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_workers_start_with_numpy_rasterio_and_shapely_already_imported():
    """Forked from a server that imported them once, rather than each importing them (~0.2 s)."""
    records = chunks.Runner(2).run(_environment, [1, 2], desc="test")
    assert [r["preloaded"] for r in records] == [True, True]


def _pid(job):
    time.sleep(0.2)  # long enough for both workers to take jobs
    return [{"pid": os.getpid()}]


def test_inside_with_one_pool_serves_every_run_and_stops_at_the_end():
    with chunks.Runner(2) as runner:
        first = {r["pid"] for r in runner.run(_pid, [1, 2, 3, 4], desc="test")}
        second = {r["pid"] for r in runner.run(_pid, [1, 2, 3, 4], desc="test")}
        assert first | second <= {p.pid for p in multiprocessing.active_children()}
    assert len(first | second) == 2 and os.getpid() not in first  # the same two workers
    assert not first & {p.pid for p in multiprocessing.active_children()}  # stopped
    apart = [{r["pid"] for r in chunks.Runner(2).run(_pid, [1, 2], desc="test")} for _ in range(2)]
    assert not apart[0] & apart[1]  # outside a with, each run starts its own
