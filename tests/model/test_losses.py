import numpy as np
import pytest

from geosiam.model.losses import ContrastiveLoss, TripletLoss, make_loss


def test_contrastive_pulls_positives_and_pushes_negatives_inside_the_margin():
    loss = ContrastiveLoss(margin=0.5)
    same = np.array([[1.0], [1.0], [0.0], [0.0]], np.float32)
    distance = np.array([[0.0], [0.3], [0.2], [0.8]], np.float32)
    per_pair = np.asarray(loss.call(same, distance))
    np.testing.assert_allclose(per_pair, [0.0, 0.09, 0.09, 0.0], atol=1e-6)


def test_triplet_compares_each_positive_with_the_negative_after_it():
    loss = TripletLoss(margin=0.5)
    labels = np.array([[1.0], [0.0], [1.0], [0.0]], np.float32)
    distance = np.array([[0.2], [1.0], [0.6], [0.4]], np.float32)  # fine couple, violating couple
    np.testing.assert_allclose(np.asarray(loss.call(labels, distance)), [0.0, 0.7], atol=1e-6)


@pytest.mark.parametrize(("name", "kind"), [("bce", "BinaryCrossentropy"),
                                            ("focal", "BinaryFocalCrossentropy"),
                                            ("contrastive", "ContrastiveLoss"),
                                            ("triplet", "TripletLoss")])
def test_make_loss_by_name(name, kind):
    assert type(make_loss(name, 0.5)).__name__ == kind
