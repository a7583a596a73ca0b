import numpy as np

from geosiam.mining.miner import mine
from geosiam.ranking import l2_normalise


def _places(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return l2_normalise(np.random.default_rng(seed).normal(size=(n, dim)))


def test_an_anchor_whose_match_is_not_first_is_hard_and_its_impostor_is_the_negative():
    older = _places(6)
    newer = older.copy()
    newer[2] = l2_normalise((older[4] + 0.05 * older[2])[None])[0]  # newer place 2 looks like older place 4
    mining = mine(older, newer, negatives=2)
    assert mining.hard_negatives[1, 2, 0] == 4  # hardest wrong neighbour first
    assert 2 not in mining.hard_negatives[1, 2]  # never the anchor's own place
    assert (mining.hard_negatives[1, [0, 1, 3, 5]] == -1).all()  # easy anchors get none
    assert mining.hard_anchors >= 1
    # reference direction newer -> older: one query at rank 2 or worse, five at rank 1
    assert 5 / 6 <= mining.map_at_5 < 1.0


def test_hard_negatives_of_both_years_point_into_the_other_year():
    older = _places(5, seed=1)
    newer = np.roll(older, 1, axis=0)  # every match is wrong: all anchors hard
    mining = mine(older, newer, negatives=3)
    assert mining.hard_anchors == 10
    for side in (0, 1):
        for anchor in range(5):
            negatives = mining.hard_negatives[side, anchor]
            assert anchor not in negatives and (negatives >= 0).all()
