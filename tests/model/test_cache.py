import os

import numpy as np
import pytest

from geosiam.errors import ModelError
from geosiam.model.cache import PairFiles, begin_packing, load_pair_cache
from geosiam.model.siamese import NO_LABELS
from tests.retrieval.factory import make_workspace


def _files(workspace, split="train"):
    from geosiam.tiling.tables import read_pairs

    pairs = read_pairs(workspace.pairs_index, split)
    return PairFiles(
        [str(p) for p in pairs["pair_id"]],
        tuple([workspace.absolute(p) for p in pairs[f"image_{s}"]] for s in "ab"),
        tuple([workspace.absolute(p) for p in pairs[f"mask_{s}"]] for s in "ab"),
    )


def test_cache_is_built_once_reused_and_rebuilt_when_a_tile_changes(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=4, px=16, splits=["train"] * 4)
    files, root = _files(workspace), tmp_path / "cache"
    first = load_pair_cache(root, files, 16, 9)
    assert first.images.shape == (2, 4, 16, 16, 3) and first.masks.shape == (2, 4, 16, 16)
    assert isinstance(first.images, np.memmap)
    again = load_pair_cache(root, files, 16, 9)
    assert again.folder == first.folder
    stat = files.images[1][2].stat()
    os.utime(files.images[1][2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rebuilt = load_pair_cache(root, files, 16, 9)
    assert rebuilt.folder != first.folder
    assert [p.name for p in root.iterdir()] == [rebuilt.folder.name]  # the stale cache is gone
    np.testing.assert_array_equal(rebuilt.images, first.images)


def test_an_interrupted_packing_resumes_where_it_stopped(tmp_path, monkeypatch):
    workspace = make_workspace(tmp_path / "ws", places=5, px=16, splits=["train"] * 5)
    files, root = _files(workspace), tmp_path / "cache"
    monkeypatch.setattr("geosiam.model.cache.COMMIT_ROWS", 2)
    from geosiam.tiling import read

    real, calls = read.read_mask, []

    def failing(path, size=None):
        calls.append(path)
        if len(calls) == 7:  # in the fourth pair: two pairs (one commit) are durable
            raise KeyboardInterrupt
        return real(path, size)

    monkeypatch.setattr(read, "read_mask", failing)
    with pytest.raises(KeyboardInterrupt):
        load_pair_cache(root, files, 16, 9)
    assert [p.name.endswith(".partial") for p in root.iterdir()] == [True]  # nothing complete
    monkeypatch.setattr(read, "read_mask", real)
    packing = begin_packing(root, files, 16, 9)
    assert packing.done == 2
    calls.clear()
    monkeypatch.setattr(read, "read_mask", lambda path, size=None: calls.append(path) or real(path, size))
    cache = packing.finish()
    assert len(calls) == 2 * 3  # only the three pairs left were read
    assert [p.name for p in root.iterdir()] == [cache.folder.name]
    again = load_pair_cache(tmp_path / "fresh", files, 16, 9)
    np.testing.assert_array_equal(cache.images, again.images)
    np.testing.assert_array_equal(cache.masks, again.masks)


def test_rows_packed_apart_are_copied_in_after_the_rows_already_packed(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=5, px=16, splits=["train"] * 5)
    files = _files(workspace)

    def rows(start, stop):
        sides = range(len(files.images))
        return PairFiles(
            files.pair_ids[start:stop],
            tuple(files.images[s][start:stop] for s in sides),
            tuple(files.masks[s][start:stop] for s in sides),
        )

    first, second = (
        load_pair_cache(tmp_path / name, rows(*r), 16, 9) for name, r in (("a", (0, 2)), ("b", (2, 5)))
    )
    packing = begin_packing(tmp_path / "cache", files, 16, 9)
    with pytest.raises(ValueError, match="cannot follow the 0 packed rows"):
        packing.copy_in(2, second)  # rows 0-1 would be left out
    packing.pack(3)  # as an interrupted run of all the rows leaves them
    packing.copy_in(0, first)  # nothing left to copy
    packing.copy_in(2, second)  # its rows from 3
    assert packing.done == 5
    cache = packing.finish()
    reference = load_pair_cache(tmp_path / "fresh", files, 16, 9)
    np.testing.assert_array_equal(cache.images, reference.images)
    np.testing.assert_array_equal(cache.masks, reference.masks)


def test_masks_with_unknown_class_ids_are_refused(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=2, px=16, splits=["train"] * 2)
    with pytest.raises(ModelError, match="class id"):
        load_pair_cache(tmp_path / "cache", _files(workspace), 16, 2)


def test_a_year_without_labels_is_cached_as_no_labels_and_its_masks_never_read(tmp_path):
    workspace = make_workspace(tmp_path / "ws", places=3, px=16, splits=["train"] * 3)
    files = _files(workspace)
    for path in files.masks[0]:
        path.unlink()  # masks/<older>/ deleted
    files = PairFiles(files.pair_ids, files.images, ([None] * 3, files.masks[1]))
    cache = load_pair_cache(tmp_path / "cache", files, 16, 9)
    assert (cache.masks[0] == NO_LABELS).all() and (cache.masks[1] < 9).all()
