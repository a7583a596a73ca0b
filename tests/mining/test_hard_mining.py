"""The hard-mining callback alone: when it mines, what it hands the batches, what it keeps and
writes, and how a resumed run continues it (descriptors made by the test, no network)."""

import json
from types import SimpleNamespace

import keras
import numpy as np

from geosiam.config import TrainSettings
from geosiam.mining.hard_mining import HardMining
from geosiam.ranking import l2_normalise
from geosiam.runfolder import RunFolder

N = 6
PLACES = l2_normalise(np.random.default_rng(0).normal(size=(N, 8)))
SWAPPED = PLACES[[1, 0, 2, 3, 4, 5]]  # places 0 and 1 look like each other in the newer year


class Describer:
    """Training descriptors with two hard anchors per year; validation getting better, then worse."""

    def __init__(self, val_map5_order=(SWAPPED, PLACES, SWAPPED, SWAPPED, SWAPPED)):
        self.val = list(val_map5_order)

    def __call__(self, model, cache):
        return (PLACES, SWAPPED) if cache == "train" else (PLACES, self.val.pop(0))


def _mining(tmp_path, initial_epoch=0, describer=None, kept=None):
    train = TrainSettings(mine_every=2, epochs=5, hard_negatives=2)
    batches = SimpleNamespace(hard_negatives=np.full((2, N, 2), -1, np.int32))
    callback = HardMining(
        RunFolder(tmp_path),
        train,
        batches,
        {"train": "train", "val": "val"},
        initial_epoch,
        describe=describer or Describer(),
        keep_best=lambda model: kept.append(model) if kept is not None else None,
    )
    callback.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    return callback, batches


def test_mining_before_training_hands_the_batches_hard_negatives_and_writes_the_state(tmp_path):
    kept = []
    mining, batches = _mining(tmp_path, kept=kept)
    mining.on_train_begin()
    assert batches.hard_negatives[0, 0, 0] == 1 and batches.hard_negatives[1, 1, 0] == 0
    assert (batches.hard_negatives[:, 2:] == -1).all()  # easy anchors get none
    assert mining.latest["epoch"] == 0 and mining.latest["hard_anchors"] == 4
    assert len(kept) == 1 and mining.state.best_epoch == 0
    state = json.loads(RunFolder(tmp_path).mining_state_path.read_text())
    assert [m["epoch"] for m in state["minings"]] == [0]
    np.testing.assert_array_equal(np.load(RunFolder(tmp_path).hard_negatives_path), batches.hard_negatives)


def test_mining_is_due_every_mine_every_epochs_and_after_the_last_never_after_nan(tmp_path):
    kept = []
    mining, _ = _mining(tmp_path, kept=kept)
    mining.on_train_begin()
    mined = {}
    for epoch in range(5):
        logs = {"loss": float("nan") if epoch == 3 else 0.5}
        mining.on_epoch_end(epoch, logs)
        mined[epoch + 1] = logs.get("mined", 0)
    assert mined == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1}  # epoch 4 was due but its loss was NaN
    assert [m["epoch"] for m in mining.state.minings] == [0, 2, 5]
    # the best validation model is kept only when validation improves (epoch 2), not after
    assert len(kept) == 2 and mining.state.best_epoch == 2


def test_a_mined_epoch_puts_its_figures_in_the_logs(tmp_path):
    mining, _ = _mining(tmp_path)
    mining.on_train_begin()
    logs = {"loss": 0.5}
    mining.on_epoch_end(1, logs)
    assert logs["mined"] == 1 and logs["hard_anchors"] == 4 and 0 < logs["train_map5"] < 1
    assert logs["val_map5"] == 1.0 and "epoch" not in logs


def test_a_resumed_run_continues_the_saved_mining_and_mines_again_when_the_pairs_changed(tmp_path):
    first, batches = _mining(tmp_path)
    first.on_train_begin()
    first.on_epoch_end(1, {"loss": 0.5})
    resumed, resumed_batches = _mining(tmp_path, initial_epoch=2, describer=Describer([]))
    resumed.on_train_begin()  # nothing to mine: the state is read back
    assert resumed.state.best_val_map5 == 1.0 and len(resumed.state.minings) == 2
    np.testing.assert_array_equal(resumed_batches.hard_negatives, batches.hard_negatives)
    np.save(RunFolder(tmp_path).hard_negatives_path, np.zeros((2, N + 1, 2), np.int32))
    again, _ = _mining(tmp_path, initial_epoch=2)
    assert again.state is None  # other pairs since: mine again before training
