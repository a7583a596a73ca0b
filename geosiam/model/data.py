"""Training data: a packed uint8 cache of tile pairs and the batches made from it.

GeoTIFFs are decoded once, into memory-mapped ``.npy`` arrays (``images`` (2, N, px, px, 3) and
``masks`` (2, N, px, px), side 0 the older year, side 1 the newer, row i pair i), so that a
training step only slices memory. The cache is keyed by a fingerprint of the tile files (paths,
sizes, modification times) and the input size: it is reused while they are unchanged, rebuilt
when they change, and written into a temporary folder renamed into place when complete.

Batches come from :class:`keras.utils.PyDataset` (worker threads, any Keras backend), in two
layouts. :class:`PairBatches` (bce, focal, contrastive, triplet): each anchor (a pair and one of
its sides: both years are anchors) gives four pairs, as the prototype's "6 anchors -> 24 pairs":
(positive, random negative, positive, hard negative), the last a random negative while the
anchor has no mined hard negatives. Random negatives are never the anchor's own place.
:class:`PlaceBatches` (infonce): K distinct places, each as (its tile of one year, its tile of
the other), the other places of the batch being its negatives; mined hard neighbours are put in
the same batch as their anchor. Flips and 90-degree rotations move image and mask of both tiles
of a pair together (the grid orientation is meaningful for retrieval); colour jitter changes
each image alone, never the masks, and random greyscale turns some images grey (luminance in
all three channels, as a panchromatic year is tiled) so that grey and colour years share one
space. Modality dropout removes the mask of one side of some couples (fills it with
:data:`~geosiam.model.siamese.NO_LABELS`), so that one network learns fused and image-only
inputs; a year without labels has no mask files at all and is cached as NO_LABELS throughout.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from geosiam.config import fingerprint
from geosiam.errors import ModelError, TrainingError
from geosiam.model.labels import NO_LABELS
from geosiam.progress import progress

SLOT_LABELS = (1.0, 0.0, 1.0, 0.0)  # positive, random negative, positive, hard negative
META_FILE = "cache.json"


@dataclass(frozen=True)
class PairFiles:
    """The tile and mask files of N pairs; index 0 is the older year, 1 the newer."""

    pair_ids: list[str]
    images: tuple[list[Path], list[Path]]
    masks: tuple[list[Path | None], list[Path | None]]  # None: no labels (never read)


@dataclass(frozen=True)
class PairCache:
    """Memory-mapped uint8 arrays of one split's pairs."""

    folder: Path
    pair_ids: list[str]
    images: np.ndarray  # (2, N, px, px, 3)
    masks: np.ndarray  # (2, N, px, px)

    def __len__(self) -> int:
        return len(self.pair_ids)


def cache_key(files: PairFiles, input_px: int) -> str:
    """Fingerprint of the files (path, size, mtime) and the input size."""
    entries = []
    for side in (0, 1):
        for path in (*files.images[side], *files.masks[side]):
            stat = Path(path).stat() if path is not None else None
            entries.append((str(path), stat.st_size, stat.st_mtime_ns) if stat else ("", 0, 0))
    return fingerprint({"files": entries, "pairs": files.pair_ids, "input_px": input_px})


def load_pair_cache(root: Path, files: PairFiles, input_px: int, num_classes: int) -> PairCache:
    """Open the cache of ``files`` under ``root``, building it first when missing or stale."""
    key = cache_key(files, input_px)
    folder = root / key
    if not (folder / META_FILE).exists():
        _build(root, folder, files, input_px, num_classes)
        for other in root.iterdir():  # older caches and interrupted builds of this split
            if other != folder and other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
    return open_pair_cache(folder)


def open_pair_cache(folder: Path) -> PairCache:
    """A complete cache folder as memory-mapped arrays."""
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    return PairCache(
        folder,
        meta["pair_ids"],
        np.load(folder / "images.npy", mmap_mode="r"),
        np.load(folder / "masks.npy", mmap_mode="r"),
    )


def _build(root: Path, folder: Path, files: PairFiles, px: int, num_classes: int) -> None:
    from geosiam.tiling.read import read_mask, read_tile

    n = len(files.pair_ids)
    tmp = root / f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir(parents=True)
    try:
        images = np.lib.format.open_memmap(tmp / "images.npy", "w+", np.uint8, (2, n, px, px, 3))
        masks = np.lib.format.open_memmap(tmp / "masks.npy", "w+", np.uint8, (2, n, px, px))
        for i in progress(range(n), desc="packing training cache", unit="pair"):
            for side in (0, 1):
                images[side, i] = read_tile(files.images[side][i], px)
                mask_path = files.masks[side][i]
                if mask_path is None:
                    masks[side, i] = NO_LABELS
                    continue
                mask = read_mask(mask_path, px)
                check_class_ids(mask, num_classes, mask_path)
                masks[side, i] = mask
        images.flush()
        masks.flush()
        del images, masks
        meta = {"pair_ids": files.pair_ids, "input_px": px}
        (tmp / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_class_ids(masks: np.ndarray, num_classes: int, where: object = "the masks") -> None:
    """A class id beyond the class table would be silently dropped by the one-hot encoding
    (:data:`NO_LABELS` excepted: it stands for no labels, not for a class)."""
    highest = int(masks[masks != NO_LABELS].max(initial=0))
    if highest >= num_classes:
        raise ModelError(
            f"{where} holds class id {highest} but the model knows {num_classes} classes: "
            "use masks made with the class table of the workspace (re-run 'geosiam prepare')"
        )


def resize_images(images: np.ndarray, px: int) -> np.ndarray:
    """(N, H, W, 3) uint8 to (N, px, px, 3): block average when H is a multiple of px, else bilinear."""
    n, h, w, _ = images.shape
    if (h, w) == (px, px):
        return images
    if h % px == 0 and w % px == 0:
        blocks = images.reshape(n, px, h // px, px, w // px, 3).astype(np.float32)
        return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)
    rows = _bilinear_weights(h, px)
    cols = _bilinear_weights(w, px)
    out = np.einsum("ph,nhwc,qw->npqc", rows, images.astype(np.float32), cols)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _bilinear_weights(size: int, px: int) -> np.ndarray:
    """(px, size) interpolation matrix with pixel centres aligned (half-pixel convention)."""
    centres = np.clip((np.arange(px) + 0.5) * size / px - 0.5, 0, size - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, size - 1)
    frac = centres - low
    weights = np.zeros((px, size), np.float32)
    weights[np.arange(px), low] += 1 - frac
    weights[np.arange(px), high] += frac
    return weights


def resize_masks(masks: np.ndarray, px: int) -> np.ndarray:
    """(N, H, W) class ids to (N, px, px) by nearest neighbour (ids never blend)."""
    _, h, w = masks.shape
    if (h, w) == (px, px):
        return masks
    rows = np.minimum(((np.arange(px) + 0.5) * h / px).astype(int), h - 1)
    cols = np.minimum(((np.arange(px) + 0.5) * w / px).astype(int), w - 1)
    return masks[:, rows][:, :, cols]


def geometric(array: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    """Rotate by ``turns`` quarter turns and optionally flip left-right (the first two axes)."""
    array = np.rot90(array, turns, axes=(0, 1))
    return array[:, ::-1] if flip else array


def colour_jitter(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Random brightness, contrast and per-channel gain, through one lookup table per channel."""
    values = np.arange(256, dtype=np.float32)
    contrast = rng.uniform(0.8, 1.2)
    brightness = rng.uniform(-20.0, 20.0)
    gains = rng.uniform(0.9, 1.1, size=3)
    tables = np.clip((values[None] - 128.0) * contrast * gains[:, None] + 128.0 + brightness, 0, 255)
    tables = tables.astype(np.uint8)
    return np.stack([tables[c][image[..., c]] for c in range(3)], axis=-1)


def greyscale(image: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> the same shape, its luminance (ITU-R 601) in every channel."""
    luminance = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(np.round(luminance).astype(np.uint8)[..., None], 3, axis=-1)


class TileBatches(keras.utils.PyDataset):
    """What both training layouts share: the cache, seeding, augmentation and the mining state.

    Every batch is drawn from (seed, epoch, batch index) alone, so batches do not depend on
    worker scheduling and a resumed run sees the batches an uninterrupted one would. ``epoch``
    is set by the training loop; ``hard_negatives`` (2, N, K) by mining (-1 = none).
    ``inputs`` names what the network takes (see :func:`geosiam.model.siamese.model_inputs`);
    ``greyscale`` (with ``augment``) and ``mask_dropout`` are per-tile and per-couple shares.
    """

    def __init__(
        self,
        cache: PairCache,
        anchors_per_batch: int,
        seed: int,
        augment: bool,
        inputs: tuple[str, ...] = ("image", "mask"),
        workers: int = 1,
        max_queue_size: int = 8,
        greyscale: float = 0.0,
        mask_dropout: float = 0.0,
    ):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        if len(cache) < 2:
            raise TrainingError(
                f"the training split has {len(cache)} pair(s); batches need at "
                "least 2 places: prepare a larger area or change the split fractions"
            )
        self.cache, self.anchors_per_batch = cache, anchors_per_batch
        self.seed, self.augment, self.inputs = seed, augment, tuple(inputs)
        self.greyscale, self.mask_dropout = greyscale, mask_dropout
        self.minings = -1  # how many times hard negatives were set: batches built on them change
        self.hard_negatives = np.full((2, len(cache), 1), -1, np.int32)
        self.epoch = 0

    @property
    def hard_negatives(self) -> np.ndarray:
        return self._hard_negatives

    @hard_negatives.setter
    def hard_negatives(self, value: np.ndarray) -> None:
        self._hard_negatives = value
        self.minings += 1

    def tiles(
        self,
        rng: np.random.Generator,
        anchor_sides: np.ndarray,
        anchor_rows: np.ndarray,
        other_sides: np.ndarray,
        other_rows: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The model inputs of (anchor, other) tile couples, augmented couple by couple."""
        batch = {
            "anchor_image": self.cache.images[anchor_sides, anchor_rows],
            "other_image": self.cache.images[other_sides, other_rows],
            "anchor_mask": self.cache.masks[anchor_sides, anchor_rows],
            "other_mask": self.cache.masks[other_sides, other_rows],
        }
        if self.augment:
            for i in range(len(anchor_rows)):
                turns, flip = int(rng.integers(4)), bool(rng.integers(2))
                for name in batch:
                    moved = geometric(batch[name][i], turns, flip)
                    if name.endswith("image"):
                        moved = colour_jitter(rng, moved)
                        moved = greyscale(moved) if rng.random() < self.greyscale else moved
                    batch[name][i] = moved
        if self.mask_dropout:
            dropped = np.flatnonzero(rng.random(len(anchor_rows)) < self.mask_dropout)
            sides = rng.integers(2, size=dropped.size)
            for i, side in zip(dropped, sides):
                batch[("anchor_mask", "other_mask")[side]][i] = NO_LABELS
        return {name: array for name, array in batch.items() if name.split("_")[1] in self.inputs}


class PairBatches(TileBatches):
    """Pairs of anchors and other tiles, with same-place labels: every (pair, side) is an anchor
    once per epoch, in an order drawn from (seed, epoch), with four pairs per anchor."""

    def __len__(self) -> int:
        return math.ceil(2 * len(self.cache) / self.anchors_per_batch)

    def anchors(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(sides, pair indices) of batch ``index``; the last batch wraps round to stay full."""
        order = np.random.default_rng([self.seed, self.epoch]).permutation(2 * len(self.cache))
        picks = np.arange(index * self.anchors_per_batch, (index + 1) * self.anchors_per_batch)
        chosen = order[picks % order.size]
        return chosen // len(self.cache), chosen % len(self.cache)

    def __getitem__(self, index: int):
        sides, anchors = self.anchors(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        n = len(self.cache)
        partners = []
        for side, anchor in zip(sides, anchors):
            hard = self.hard_negatives[side, anchor]
            hard = hard[hard >= 0]
            randoms = rng.integers(n - 1, size=2)
            randoms += randoms >= anchor  # never the anchor's own place
            hard_pick = rng.choice(hard) if hard.size else randoms[1]
            partners += [anchor, randoms[0], anchor, hard_pick]
        anchor_sides = np.repeat(sides, len(SLOT_LABELS))
        batch = self.tiles(
            rng, anchor_sides, np.repeat(anchors, len(SLOT_LABELS)), 1 - anchor_sides, np.asarray(partners)
        )
        labels = np.tile(np.asarray(SLOT_LABELS, np.float32), len(anchors))[:, None]
        return batch, labels


class PlaceBatches(TileBatches):
    """Batches of ``anchors_per_batch`` distinct places for in-batch negatives (``infonce``).

    Batch ``index`` takes its anchors from year ``index % 2`` and its positives from the other
    year, so that in one epoch every (pair, side) is an anchor once. Each year's places are
    ordered by :func:`hard_groups` (anchors followed by their mined hard neighbours) and cut
    into consecutive runs of K; the last run wraps round to stay full, never repeating a place.
    Keras needs targets, so each batch comes with zeros that the infonce loss ignores: its
    targets are the layout itself (row i of the anchors matches row i of the positives).
    """

    def __init__(self, cache: PairCache, anchors_per_batch: int, *args, **kwargs):
        super().__init__(cache, anchors_per_batch, *args, **kwargs)
        check_places_per_batch(len(cache), anchors_per_batch)
        self._orders: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return 2 * math.ceil(len(self.cache) / self.anchors_per_batch)

    def order(self, side: int) -> np.ndarray:
        """The places of the year-``side`` anchors this epoch, hard groups together (memoised)."""
        key = (self.epoch, side, self.minings)
        with self._lock:
            if key not in self._orders:
                rng = np.random.default_rng([self.seed, self.epoch, side])
                self._orders = {k: v for k, v in self._orders.items() if k[0] == self.epoch}
                self._orders[key] = hard_groups(rng, self.hard_negatives[side])
            return self._orders[key]

    def places(self, index: int) -> tuple[int, np.ndarray]:
        """(anchor side, K distinct pair indices) of batch ``index``."""
        side, run = index % 2, index // 2
        order = self.order(side)
        picks = np.arange(run * self.anchors_per_batch, (run + 1) * self.anchors_per_batch)
        return side, order[picks % order.size]

    def __getitem__(self, index: int):
        side, rows = self.places(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sides = np.full(len(rows), side)
        return self.tiles(rng, sides, rows, 1 - sides, rows), np.zeros((len(rows), 1), np.float32)


def check_places_per_batch(places: int, per_batch: int) -> None:
    """Batches of distinct places cannot hold more places than the training split has."""
    if not 2 <= per_batch <= places:
        raise TrainingError(
            f"the training split has {places} pair(s), too few for batches of {per_batch} distinct "
            f"places: use --batch-anchors between 2 and {places}, or prepare a larger area"
        )


def hard_groups(rng: np.random.Generator, hard_negatives: np.ndarray) -> np.ndarray:
    """A random order of N places where each hard anchor is followed by its hard neighbours.

    ``hard_negatives`` (N, K) lists each anchor's nearest wrong places (-1 = none). Hard anchors
    come first, in random order, each followed by those of its neighbours not yet placed; then
    the other places. Every place appears exactly once.
    """
    n = len(hard_negatives)
    shuffled = rng.permutation(n)
    is_hard = (hard_negatives[shuffled] >= 0).any(axis=1)
    placed = np.zeros(n, bool)
    order = []
    for place in np.concatenate([shuffled[is_hard], shuffled[~is_hard]]):
        for member in (place, *hard_negatives[place]):
            if member >= 0 and not placed[member]:
                placed[member] = True
                order.append(member)
    return np.asarray(order, np.int64)


class ArrayBatches(keras.utils.PyDataset):
    """Fixed-size batches of tiles and/or masks for embedding, resized to the model's input.

    The last batch is padded by repeating its last tile so that every batch has one shape
    (XLA compiles once); callers drop the padded rows.
    """

    def __init__(
        self,
        images: np.ndarray | None,
        masks: np.ndarray | None,
        batch_size: int,
        input_px: int,
        workers: int = 1,
    ):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.images, self.masks = images, masks
        self.rows = len(images) if images is not None else len(masks)
        self.batch_size, self.input_px = batch_size, input_px

    def __len__(self) -> int:
        return math.ceil(self.rows / self.batch_size)

    def __getitem__(self, index: int):
        rows = np.minimum(np.arange(index * self.batch_size, (index + 1) * self.batch_size), self.rows - 1)
        batch = {}
        if self.images is not None:
            batch["image"] = resize_images(np.asarray(self.images[rows]), self.input_px)
        if self.masks is not None:
            batch["mask"] = resize_masks(np.asarray(self.masks[rows]), self.input_px)
        return (batch,)
