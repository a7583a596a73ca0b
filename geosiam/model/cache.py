"""The packed tile cache: GeoTIFFs decoded once into memory-mapped uint8 arrays.

``images`` (S, N, px, px, 3) and ``masks`` (S, N, px, px) hold N rows of S sides: a training
split's pairs (S = 2, side 0 the older year, side 1 the newer, row i pair i) or a set of tiles to
embed (S = 1). Training, mining, ``eval`` and ``embed`` only slice memory from then on. A cache is
keyed by a fingerprint of its files (paths, sizes, modification times) and the input size: it is
reused while they are unchanged and packed again when they change.

Packing is resumable: rows are packed in order into a hidden ``.<key>.partial`` folder, whose
``progress.json`` records how many are durable; an interrupted packing continues from there, and
the folder is renamed into place when every row is packed. Readers may slice the rows already
packed while packing goes on (``embed`` embeds a chunk while the next one is read). Rows packed
apart, as caches of their own (by the shards of ``embed --shards``), are copied in.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geosiam import atomic
from geosiam.config import fingerprint
from geosiam.errors import ModelError, TrainingError, WorkspaceError
from geosiam.model.labels import NO_LABELS, mask_file, masked_years
from geosiam.progress import progress
from geosiam.workspace import Workspace

META_FILE = "cache.json"
PROGRESS_FILE = "progress.json"
COMMIT_ROWS = 256  # rows packed between two durable commits
CHUNK_BYTES = 64 * 2**20  # uint8 pixels of image and mask read (or embedded) at a time


@dataclass(frozen=True)
class PairFiles:
    """The tile and mask files of N rows, one list per side (pairs: 0 older year, 1 newer)."""

    pair_ids: list[str]
    images: tuple[list[Path], ...]
    masks: tuple[list[Path | None], ...]  # None: no labels (never read)


@dataclass(frozen=True)
class PairCache:
    """Memory-mapped uint8 arrays of N rows of S sides."""

    folder: Path
    pair_ids: list[str]
    images: np.ndarray  # (S, N, px, px, 3)
    masks: np.ndarray  # (S, N, px, px)

    def __len__(self) -> int:
        return len(self.pair_ids)


def cache_key(files: PairFiles, input_px: int) -> str:
    """Fingerprint of the files (path, size, mtime) and the input size."""
    entries = []
    for side in range(len(files.images)):
        for path in (*files.images[side], *files.masks[side]):
            stat = os.stat(path) if path is not None else None  # os.stat: no Path made per file
            entries.append((str(path), stat.st_size, stat.st_mtime_ns) if stat else ("", 0, 0))
    return fingerprint({"files": entries, "pairs": files.pair_ids, "input_px": input_px})


class Packing:
    """An unfinished cache: rows before ``done`` are packed and durable; ``images`` and
    ``masks`` are the arrays being filled (readable up to ``done``)."""

    def __init__(self, root: Path, files: PairFiles, input_px: int, num_classes: int) -> None:
        self.root, self.files, self.px, self.num_classes = root, files, input_px, num_classes
        self.folder = root / cache_key(files, input_px)
        self.partial = root / f".{self.folder.name}.partial"
        shape = (len(files.images), len(files.pair_ids))
        self.done = self._resumable_rows()
        if self.done == 0:
            shutil.rmtree(self.partial, ignore_errors=True)
            self.partial.mkdir(parents=True)
            self.images = np.lib.format.open_memmap(
                self.partial / "images.npy", "w+", np.uint8, (*shape, input_px, input_px, 3)
            )
            self.masks = np.lib.format.open_memmap(
                self.partial / "masks.npy", "w+", np.uint8, (*shape, input_px, input_px)
            )
        else:
            self.images = np.load(self.partial / "images.npy", mmap_mode="r+")
            self.masks = np.load(self.partial / "masks.npy", mmap_mode="r+")

    def __len__(self) -> int:
        return len(self.files.pair_ids)

    def _resumable_rows(self) -> int:
        try:
            return int(json.loads((self.partial / PROGRESS_FILE).read_text(encoding="utf-8"))["done"])
        except (OSError, ValueError, KeyError):
            return 0

    def pack(self, stop: int, desc: str = "packing tile cache") -> None:
        """Read the rows up to ``stop`` (those not packed yet), committing as it goes."""
        from geosiam.tiling.read import read_mask, read_tile  # lazy: rasterio, only when packing

        for row in progress(range(self.done, stop), desc=desc, unit="row"):
            for side in range(len(self.files.images)):
                self.images[side, row] = read_tile(self.files.images[side][row], self.px)
                mask_path = self.files.masks[side][row]
                if mask_path is None:
                    self.masks[side, row] = NO_LABELS
                    continue
                mask = read_mask(mask_path, self.px)
                check_class_ids(mask, self.num_classes, mask_path)
                self.masks[side, row] = mask
            if (row + 1) % COMMIT_ROWS == 0 or row + 1 == stop:
                self._commit(row + 1)

    def copy_in(self, start: int, part: PairCache) -> None:
        """Rows ``start:start + len(part)`` from ``part``, the same files packed apart (a shard's
        rows), those not packed yet; ``start`` must not lie beyond the packed rows."""
        stop = start + len(part)
        if not start <= self.done:
            raise ValueError(f"rows from {start} cannot follow the {self.done} packed rows")
        if stop > self.done:
            self.images[:, self.done : stop] = part.images[:, self.done - start :]
            self.masks[:, self.done : stop] = part.masks[:, self.done - start :]
            self._commit(stop)

    def _commit(self, done: int) -> None:
        self.images.flush()
        self.masks.flush()
        atomic.write_text(self.partial / PROGRESS_FILE, json.dumps({"done": done, "input_px": self.px}))
        self.done = done

    def finish(self) -> PairCache:
        """Pack what is left, move the cache into place and remove stale ones of the same size."""
        self.pack(len(self))
        del self.images, self.masks
        meta = {"pair_ids": self.files.pair_ids, "input_px": self.px}
        (self.partial / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        (self.partial / PROGRESS_FILE).unlink()
        os.replace(self.partial, self.folder)
        remove_stale(self.root, self.folder, self.px)
        return open_pair_cache(self.folder)


def begin_packing(root: Path, files: PairFiles, input_px: int, num_classes: int) -> PairCache | Packing:
    """The complete cache of ``files`` under ``root``, or the packing that makes it (resumed)."""
    found = packed_cache(root, files, input_px)
    return found if found is not None else Packing(root, files, input_px, num_classes)


def packed_cache(root: Path, files: PairFiles, input_px: int) -> PairCache | None:
    """The complete cache of ``files`` under ``root``; None when it is not packed (yet)."""
    folder = root / cache_key(files, input_px)
    return open_pair_cache(folder) if (folder / META_FILE).exists() else None


def load_pair_cache(root: Path, files: PairFiles, input_px: int, num_classes: int) -> PairCache:
    """Open the cache of ``files`` under ``root``, packing it first when missing or stale."""
    found = begin_packing(root, files, input_px, num_classes)
    return found if isinstance(found, PairCache) else found.finish()


def open_pair_cache(folder: Path) -> PairCache:
    """A complete cache folder as memory-mapped arrays."""
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    return PairCache(
        folder,
        meta["pair_ids"],
        np.load(folder / "images.npy", mmap_mode="r"),
        np.load(folder / "masks.npy", mmap_mode="r"),
    )


def remove_stale(root: Path, kept: Path, input_px: int) -> None:
    """Other caches and interrupted packings of the same input size under ``root`` (older files);
    those of other sizes (``eval`` reads some at thumbnail size) stay."""
    for other in root.iterdir():
        meta = other / (PROGRESS_FILE if other.name.endswith(".partial") else META_FILE)
        if other == kept or not meta.exists():
            continue
        if json.loads(meta.read_text(encoding="utf-8")).get("input_px") == input_px:
            shutil.rmtree(other, ignore_errors=True)


def split_cache(workspace: Workspace, split: str, input_px: int, num_classes: int, labels: str) -> PairCache:
    """A split's pairs packed (``cache/train/<split>/``, shared by training, mining and ``eval``);
    the masks of a year the label mode leaves out are never read."""
    from geosiam.tiling.tables import read_pairs  # lazy: geopandas

    pairs = read_pairs(workspace.pairs_index, split)
    if pairs.empty:
        raise TrainingError(
            f"the {split} split of {workspace.pairs_index} has no pairs: prepare a larger area, "
            "or change the split fractions (split.fractions in geosiam.toml) and prepare again"
        )
    files = PairFiles(
        pair_ids=[str(p) for p in pairs["pair_id"]],
        images=tuple([workspace.absolute(p) for p in pairs[f"image_{s}"]] for s in "ab"),
        masks=tuple(
            [mask_file(workspace, p) if used else None for p in pairs[f"mask_{s}"]]
            for s, used in zip("ab", masked_years(labels))
        ),
    )
    for path in (*files.images[0], *files.images[1], *files.masks[0], *files.masks[1]):
        if path is not None and not path.exists():
            raise WorkspaceError(
                f"{path} is listed in pairs.gpkg but missing: run 'geosiam prepare' again to rebuild it"
            )
    return load_pair_cache(workspace.cache_dir / "train" / split, files, input_px, num_classes)


def chunk_rows(input_px: int, batch_size: int) -> int:
    """Rows read or embedded at a time: about :data:`CHUNK_BYTES` of pixels, whole batches
    (Keras copies the inputs of a ``model.predict`` call whole)."""
    return batch_size * max(CHUNK_BYTES // (4 * input_px * input_px * batch_size), 1)


def check_class_ids(masks: np.ndarray, num_classes: int, where: object = "the masks") -> None:
    """A class id beyond the class table would be silently dropped by the one-hot encoding
    (:data:`NO_LABELS` excepted: it stands for no labels, not for a class)."""
    if masks.size == 0 or masks.max() < num_classes:  # the common case, without a copy
        return
    highest = int(masks[masks != NO_LABELS].max(initial=0))
    if highest >= num_classes:
        raise ModelError(
            f"{where} holds class id {highest} but the model knows {num_classes} classes: "
            "use masks made with the class table of the workspace (re-run 'geosiam prepare')"
        )
