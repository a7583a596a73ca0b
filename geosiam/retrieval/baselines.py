"""Raw-pixel descriptors: what retrieval achieves without learning (pure numpy).

Each baseline turns tiles into L2-normalised vectors that compare with cosine similarity, like
the network's descriptors, so that the same kNN and metrics apply:

- ``rgb``: the image shrunk to ``cells x cells`` by block averaging, centred on its own mean
  (so cosine is the correlation of the thumbnails, blind to an overall brightness change
  between survey years);
- ``mask``: the share of each class in every cell (a one-hot mask averaged by block);
- ``rgb_mask``: both, with equal weight.
"""

from __future__ import annotations

import numpy as np

from geosiam.errors import WorkspaceError
from geosiam.ranking import l2_normalise

CELLS = 16  # thumbnails of 16 x 16 cells: 768-d for RGB, 16*16*classes for masks
CHUNK = 64  # tiles converted to float at once: bounds memory for large evaluation sets


def block_mean(arrays: np.ndarray, cells: int) -> np.ndarray:
    """Average (N, H, W, C) arrays over a ``cells x cells`` grid of blocks -> (N, cells, cells, C).

    Works for any H and W (blocks differ by at most one pixel); ``cells`` is capped at the
    array size.
    """
    n, height, width, channels = arrays.shape
    rows = np.linspace(0, height, min(cells, height) + 1).astype(int)
    cols = np.linspace(0, width, min(cells, width) + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(arrays, rows[:-1], axis=1), cols[:-1], axis=2)
    counts = np.outer(np.diff(rows), np.diff(cols))[None, :, :, None]
    return sums / counts


def rgb_descriptors(images: np.ndarray, cells: int = CELLS) -> np.ndarray:
    """(N, H, W, 3) uint8 images -> (N, cells*cells*3) centred, L2-normalised thumbnails."""
    thumbs = _chunked(lambda part: block_mean(part.astype(np.float32) / 255.0, cells), images)
    return l2_normalise(thumbs - thumbs.mean(axis=1, keepdims=True))


def mask_descriptors(masks: np.ndarray, num_classes: int, cells: int = CELLS) -> np.ndarray:
    """(N, H, W) uint8 class ids -> (N, cells*cells*num_classes) L2-normalised class shares."""
    if masks.size and int(masks.max()) >= num_classes:
        raise WorkspaceError(
            f"a mask holds class id {int(masks.max())} but the class table has {num_classes} "
            "classes: re-run 'geosiam prepare' with the class table the masks were made with"
        )
    onehot = np.eye(num_classes, dtype=np.float32)
    return l2_normalise(_chunked(lambda part: block_mean(onehot[part], cells), masks))


def rgb_mask_descriptors(
    images: np.ndarray, masks: np.ndarray, num_classes: int, cells: int = CELLS
) -> np.ndarray:
    """Image and mask thumbnails side by side, each with half the weight."""
    both = np.concatenate(
        [rgb_descriptors(images, cells), mask_descriptors(masks, num_classes, cells)], axis=1
    )
    return l2_normalise(both)


def _chunked(thumbnail, arrays: np.ndarray) -> np.ndarray:
    """Apply ``thumbnail`` to CHUNK tiles at a time and flatten each result to one row."""
    parts = [thumbnail(arrays[i : i + CHUNK]) for i in range(0, len(arrays), CHUNK)]
    return np.concatenate(parts).reshape(len(arrays), -1).astype(np.float32)
