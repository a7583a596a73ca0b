"""The losses geosiam defines (Keras has the others); :mod:`geosiam.model.recipes` pairs each
``--loss`` with its head and batch layout.

``bce`` (the reference) and ``focal`` act on the same-place probability; ``contrastive`` and
``triplet`` on the distance between the two L2-normalised descriptors (in [0, 2]). Labels are 1
for the same place, 0 for another place. The triplet loss relies on the batch layout of
:class:`geosiam.model.data.PairBatches`: pairs come as (positive, negative) couples of one anchor.
``infonce`` relies on :class:`geosiam.model.data.PlaceBatches`: row i holds the two descriptors
of place i (one per year) and every other row of the batch is another place, so each place's
match is contrasted with all the batch's other places at once; labels are unused.
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


@keras.saving.register_keras_serializable(PACKAGE)
class InfoNCELoss(keras.losses.Loss):
    """Symmetric InfoNCE (NT-Xent) over in-batch negatives, on rows ``[a_i, b_i]`` of K places.

    Similarities ``a_i . b_j / temperature`` form a K x K matrix whose diagonal holds the true
    matches; the loss of place i is the mean of the cross-entropies of row i (a_i retrieving
    among the b's) and of column i (b_i retrieving among the a's): both years query.
    """

    def __init__(self, temperature: float = 0.1, name: str = "infonce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = temperature

    def call(self, y_true, y_pred):
        pairs = ops.cast(y_pred, "float32")
        half = pairs.shape[-1] // 2
        logits = ops.matmul(pairs[:, :half], ops.transpose(pairs[:, half:])) / self.temperature
        rows = ops.diagonal(ops.log_softmax(logits, axis=1))
        columns = ops.diagonal(ops.log_softmax(logits, axis=0))
        return -0.5 * (rows + columns)

    def get_config(self):
        return super().get_config() | {"temperature": self.temperature}
