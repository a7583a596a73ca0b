"""Losses of the Siamese training model, chosen by name (``--loss``).

``bce`` (the reference) and ``focal`` act on the same-place probability; ``contrastive`` and
``triplet`` on the distance between the two L2-normalised descriptors (in [0, 2]). Labels are 1
for the same place, 0 for another place. The triplet loss relies on the batch layout of
:class:`geosiam.model.data.PairBatches`: pairs come as (positive, negative) couples of one anchor.
"""

from __future__ import annotations

import keras
from keras import ops

from geosiam.model.siamese import PACKAGE


@keras.saving.register_keras_serializable(PACKAGE)
class ContrastiveLoss(keras.losses.Loss):
    """Hadsell et al.: ``y d^2 + (1 - y) max(0, margin - d)^2``."""

    def __init__(self, margin: float = 0.5, name: str = "contrastive", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        same = ops.cast(ops.reshape(y_true, (-1,)), "float32")
        distance = ops.cast(ops.reshape(y_pred, (-1,)), "float32")
        apart = ops.relu(self.margin - distance)
        return same * ops.square(distance) + (1.0 - same) * ops.square(apart)

    def get_config(self):
        return super().get_config() | {"margin": self.margin}


@keras.saving.register_keras_serializable(PACKAGE)
class TripletLoss(keras.losses.Loss):
    """``max(0, d(anchor, positive) - d(anchor, negative) + margin)`` per (positive, negative) couple."""

    def __init__(self, margin: float = 0.5, name: str = "triplet", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        couples = ops.reshape(ops.cast(y_pred, "float32"), (-1, 2))
        return ops.relu(couples[:, 0] - couples[:, 1] + self.margin)

    def get_config(self):
        return super().get_config() | {"margin": self.margin}


def make_loss(name: str, margin: float) -> keras.losses.Loss:
    """The loss object for ``--loss NAME``."""
    if name == "bce":
        return keras.losses.BinaryCrossentropy(name="bce")
    if name == "focal":
        return keras.losses.BinaryFocalCrossentropy(gamma=2.0, name="focal")
    if name == "contrastive":
        return ContrastiveLoss(margin)
    return TripletLoss(margin)
