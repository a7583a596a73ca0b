"""The recipe of each ``--loss``: its Keras loss, the head the training model ends in, and how
its batches are laid out. Adding a loss means adding one entry to :data:`RECIPES` (and its name
to ``config.Loss``, which offers it on the command line; a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from geosiam.config import TrainSettings
from geosiam.errors import SettingsError, TrainingError
from geosiam.model.data import SLOT_LABELS, PairBatches, PlaceBatches, TileBatches, check_places_per_batch
from geosiam.model.losses import ContrastiveLoss, InfoNCELoss, TripletLoss
from geosiam.model.siamese import descriptors_head, distance_head, same_place_head


def check_pairs_per_batch(pairs: int, anchors_per_batch: int) -> None:
    """Pair batches need two places at least, and anchors (two per pair) for a whole batch."""
    if pairs < 2 or 2 * pairs < anchors_per_batch:
        raise TrainingError(
            f"the training split has {pairs} pair(s) ({2 * pairs} anchors), too few for batches of "
            f"{anchors_per_batch} anchors with negatives from other places: lower --batch-anchors "
            "or prepare a larger area"
        )


@dataclass(frozen=True)
class BatchLayout:
    """How training batches are made (a :class:`~geosiam.model.data.TileBatches` class), and the
    check that the training split can fill them."""

    batches: type[TileBatches]
    check: Callable[[int, int], None]  # (pairs, anchors per batch) -> None, or a TrainingError
    tiles_per_anchor: int  # rows of a batch (on each side) per anchor

    def rows(self, anchors_per_batch: int) -> int:
        """The rows of a batch of ``anchors_per_batch`` anchors (what the devices split)."""
        return anchors_per_batch * self.tiles_per_anchor


PAIRS = BatchLayout(PairBatches, check_pairs_per_batch, len(SLOT_LABELS))  # a positive and negatives
PLACES = BatchLayout(PlaceBatches, check_places_per_batch, 1)  # distinct places, in-batch negatives


@dataclass(frozen=True)
class LossRecipe:
    """One ``--loss``: how to make it, what the training model outputs for it, its batches."""

    name: str
    make_loss: Callable[[TrainSettings], keras.losses.Loss]
    head: Callable  # (descriptors a, descriptors b) -> the training model's output
    layout: BatchLayout


RECIPES: dict[str, LossRecipe] = {
    recipe.name: recipe
    for recipe in (
        LossRecipe("bce", lambda t: keras.losses.BinaryCrossentropy(name="bce"), same_place_head, PAIRS),
        LossRecipe(
            "focal",
            lambda t: keras.losses.BinaryFocalCrossentropy(gamma=2.0, name="focal"),
            same_place_head,
            PAIRS,
        ),
        LossRecipe("contrastive", lambda t: ContrastiveLoss(t.margin), distance_head, PAIRS),
        LossRecipe("triplet", lambda t: TripletLoss(t.margin), distance_head, PAIRS),
        LossRecipe("infonce", lambda t: InfoNCELoss(t.temperature), descriptors_head, PLACES),
    )
}


def recipe_of(loss: str) -> LossRecipe:
    """The recipe of ``--loss NAME``; an unknown name is an error naming the known ones."""
    try:
        return RECIPES[loss]
    except KeyError:
        raise SettingsError(f"unknown loss '{loss}': use one of {', '.join(RECIPES)}") from None
