"""Training batches, made from the packed uint8 cache of tile pairs (:mod:`geosiam.model.cache`).

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
space. All three run inside the model's compiled step (:mod:`geosiam.model.augment`), from
draws the workers make: the workers only copy uint8 rows out of the cache, and batches cross
to the device as uint8. Modality dropout removes the mask of one
side of some couples (fills it with :data:`~geosiam.model.siamese.NO_LABELS`), so that one
network learns fused and image-only
inputs; a year without labels has no mask files at all and is cached as NO_LABELS throughout.
"""

from __future__ import annotations

import math
import threading

import keras
import numpy as np

from geosiam.errors import TrainingError
from geosiam.model.augment import GEOMETRIES, draw_augment
from geosiam.model.cache import PairCache
from geosiam.model.labels import NO_LABELS

SLOT_LABELS = (1.0, 0.0, 1.0, 0.0)  # positive, random negative, positive, hard negative


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


class TileBatches(keras.utils.PyDataset):
    """What both training layouts share: the cache, seeding, augmentation and the mining state.

    Every batch is drawn from (seed, epoch, batch index) alone, so batches do not depend on
    worker scheduling and a resumed run sees the batches an uninterrupted one would. ``epoch``
    is set by the training loop; ``hard_negatives`` (2, N, K) by mining (-1 = none).
    ``inputs`` names what the network takes (see :func:`geosiam.model.siamese.model_inputs`);
    ``greyscale`` (with ``augment``) and ``mask_dropout`` are per-tile and per-couple shares.
    ``host`` (index, count) is this process among those that train together on several hosts:
    each draws the whole batch and feeds its own consecutive share of its rows, in process order
    (:meth:`own_rows`), which the trainer joins into the batch one host would have fed.
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
        host: tuple[int, int] = (0, 1),
    ):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        if len(cache) < 2:
            raise TrainingError(
                f"the training split has {len(cache)} pair(s); batches need at "
                "least 2 places: prepare a larger area or change the split fractions"
            )
        self.cache, self.anchors_per_batch = cache, anchors_per_batch
        self.seed, self.augment, self.inputs = seed, augment, tuple(inputs)
        self.greyscale, self.mask_dropout, self.host = greyscale, mask_dropout, host
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

    def own_rows(self, rows: int) -> slice:
        """The rows of a whole batch of ``rows`` that this process feeds: all of them on one
        host; process i of n feeds the i-th n-th (the batch splits evenly over the devices)."""
        index, count = self.host
        return slice(index * rows // count, (index + 1) * rows // count)

    def tiles(
        self,
        rng: np.random.Generator,
        anchor_sides: np.ndarray,
        anchor_rows: np.ndarray,
        other_sides: np.ndarray,
        other_rows: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The model inputs of (anchor, other) tile couples: uint8 rows of the cache (one
        contiguous copy each; a dropped mask filled with NO_LABELS) and, with augmentation, the
        draws of :mod:`geosiam.model.augment` (one geometry code per couple, shared by its two
        tiles and their masks; colour draws per image), which the model applies. Every draw is
        made for the whole batch, and only this process's rows are copied (:meth:`own_rows`)."""
        n = len(anchor_rows)
        geometry = rng.integers(GEOMETRIES, size=n) if self.augment else None
        dropped = np.full((n, 2), False)
        if self.mask_dropout:
            chosen = rng.random(n) < self.mask_dropout
            dropped[np.flatnonzero(chosen), rng.integers(2, size=int(chosen.sum()))] = True
        own = self.own_rows(n)
        batch = {}
        for slot, (sides, rows) in enumerate(((anchor_sides, anchor_rows), (other_sides, other_rows))):
            name = ("anchor", "other")[slot]
            if "image" in self.inputs:
                batch[f"{name}_image"] = self.cache.images[sides[own], rows[own]]
            if "mask" in self.inputs:
                masks = self.cache.masks[sides[own], rows[own]]
                masks[dropped[own, slot]] = NO_LABELS
                batch[f"{name}_mask"] = masks
            if self.augment:
                batch[f"{name}_augment"] = draw_augment(rng, geometry, self.greyscale)[own]
        return batch

    @property
    def input_names(self) -> set[str]:
        """The names of the inputs the batches carry (the training model must take these)."""
        names = (*self.inputs, *(("augment",) if self.augment else ()))
        return {f"{side}_{name}" for side in ("anchor", "other") for name in names}


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
        return batch, labels[self.own_rows(len(labels))]


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
        targets = np.zeros((len(rows), 1), np.float32)[self.own_rows(len(rows))]
        return self.tiles(rng, sides, rows, 1 - sides, rows), targets


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
