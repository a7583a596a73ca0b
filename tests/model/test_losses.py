import numpy as np

from geosiam.model.losses import ContrastiveLoss, InfoNCELoss, TripletLoss


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


def _infonce_reference(a: np.ndarray, b: np.ndarray, temperature: float) -> np.ndarray:
    """Per-place symmetric InfoNCE written out with numpy."""
    logits = a @ b.T / temperature

    def cross_entropy(rows):
        rows = rows - rows.max(axis=1, keepdims=True)
        log_p = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
        return -np.diag(log_p)

    return 0.5 * (cross_entropy(logits) + cross_entropy(logits.T))


def _unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_infonce_is_low_when_each_place_matches_itself_and_high_when_matches_are_swapped():
    loss = InfoNCELoss(temperature=0.1)
    places = np.eye(4, 8, dtype=np.float32)  # four orthogonal descriptors
    aligned = float(loss(np.zeros((4, 1)), np.concatenate([places, places], axis=1)))
    swapped = float(loss(np.zeros((4, 1)), np.concatenate([places, places[[1, 0, 3, 2]]], axis=1)))
    assert aligned < 1e-3  # exp(-10) per wrong place
    assert swapped > 10.0  # the true match scores 10 below the impostor


def test_infonce_matches_a_numpy_reference_row_by_row():
    rng = np.random.default_rng(0)
    a, b = _unit(rng.normal(size=(6, 5))), _unit(rng.normal(size=(6, 5)))
    loss = InfoNCELoss(temperature=0.2)
    per_place = np.asarray(loss.call(np.zeros((6, 1)), np.concatenate([a, b], axis=1).astype(np.float32)))
    np.testing.assert_allclose(per_place, _infonce_reference(a, b, 0.2), rtol=1e-4)
    assert InfoNCELoss.from_config(loss.get_config()).temperature == 0.2
