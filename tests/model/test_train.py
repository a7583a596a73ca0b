"""The callbacks that keep a run, each alone, on a tiny model (no backbone, no workspace)."""

import csv
import dataclasses
import math
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from geosiam.config import TrainSettings
from geosiam.errors import ModelError
from geosiam.model.train import (
    BatchEpoch,
    Checkpoints,
    EpochHistory,
    NanStop,
    learning_rate_at,
    learning_rate_schedule,
)
from geosiam.runfolder import RunFolder, checkpoint_epoch

X = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
Y = X.sum(axis=1, keepdims=True)


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def _rows(run: RunFolder) -> list[dict]:
    with open(run.history_path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_cosine_schedule_decays_from_the_rate_towards_zero_and_constant_stays():
    cosine = TrainSettings(learning_rate=1e-3, lr_schedule="cosine", epochs=4)
    rates = [learning_rate_at(cosine, epoch) for epoch in range(4)]
    np.testing.assert_allclose(rates, [1e-3, 0.85355e-3, 0.5e-3, 0.14645e-3], rtol=1e-4)
    constant = dataclasses.replace(cosine, lr_schedule="constant")
    assert {learning_rate_at(constant, epoch) for epoch in range(4)} == {1e-3}


def test_a_resumed_fit_continues_the_schedule_and_the_history_where_it_stopped(tmp_path):
    run = RunFolder(tmp_path)
    train = TrainSettings(learning_rate=1e-3, lr_schedule="cosine", epochs=4)
    model = _model()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[learning_rate_schedule(train), EpochHistory(run, 0)])
    run.history_path.write_text(run.history_path.read_text() + "3,9,1,0,0,,,,\n")  # an epoch lost on a kill
    history = EpochHistory(run, initial_epoch=2)
    assert [row["epoch"] for row in history.rows] == ["1", "2"]  # the lost epoch is dropped
    model.fit(X, Y, epochs=4, initial_epoch=2, verbose=0, callbacks=[learning_rate_schedule(train), history])
    rows = _rows(run)
    assert [row["epoch"] for row in rows] == ["1", "2", "3", "4"]
    expected = [learning_rate_at(train, epoch) for epoch in range(4)]
    np.testing.assert_allclose([float(row["learning_rate"]) for row in rows], expected, rtol=1e-5)
    assert all(row["mined"] == "0" and row["val_map5"] == "" for row in rows)


def test_the_history_takes_the_mining_figures_of_a_mined_epoch_and_skips_a_nan_epoch(tmp_path):
    run = RunFolder(tmp_path)
    history = EpochHistory(run, 0)
    history.on_epoch_begin(0)
    history.on_epoch_end(0, {"loss": 0.5, "learning_rate": 0.1, "mined": 1, "val_map5": 0.25, "other": 3})
    history.on_epoch_end(1, {"loss": float("nan"), "learning_rate": 0.1})
    (row,) = _rows(run)
    assert (row["epoch"], row["loss"], row["mined"], row["val_map5"]) == ("1", "0.5", "1", "0.25")
    assert "other" not in row


def test_a_nan_loss_stops_with_an_error_naming_the_last_good_epoch(tmp_path):
    run = RunFolder(tmp_path)
    model = _model()
    stop = NanStop()
    stop.set_model(model)
    stop.on_epoch_end(2, {"loss": 0.3})
    assert stop.nan_epoch == 0 and not model.stop_training
    stop.on_epoch_end(4, {"loss": float("nan")})
    assert stop.nan_epoch == 5 and model.stop_training
    run.checkpoint_path(4).parent.mkdir()
    run.checkpoint_path(4).write_bytes(b"")
    message = str(stop.error(run, TrainSettings(learning_rate=1e-3)))
    assert "NaN in epoch 5 at learning rate 0.001" in message
    assert "checkpoint (epoch 4) is kept: continue with --resume --lr 0.0001" in message


def test_checkpoints_hold_the_optimizer_keep_the_last_two_and_skip_a_nan_epoch(tmp_path):
    run = RunFolder(tmp_path)
    model = _model()
    model.fit(X, Y, epochs=3, batch_size=4, verbose=0, callbacks=[Checkpoints(run)])
    assert [checkpoint_epoch(p) for p in run.checkpoints()] == [2, 3]
    assert not list(run.checkpoints_dir.glob("*.tmp*"))  # written atomically, nothing left behind
    loaded = keras.saving.load_model(run.last_checkpoint())
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 3 * 2
    checkpoints = Checkpoints(run)
    checkpoints.set_model(model)
    checkpoints.on_epoch_end(3, {"loss": math.nan})
    assert run.last_checkpoint() == run.checkpoint_path(3)


def test_the_batches_are_told_each_epoch():
    batches = SimpleNamespace(epoch=None)
    callback = BatchEpoch(batches)
    callback.on_epoch_begin(7)
    assert batches.epoch == 7


@pytest.mark.parametrize("epochs", [1, 2])
def test_the_schedule_is_keras_own_and_reports_the_rate(epochs):
    train = TrainSettings(learning_rate=0.5, lr_schedule="constant", epochs=epochs)
    scheduler = learning_rate_schedule(train)
    assert isinstance(scheduler, keras.callbacks.LearningRateScheduler)
    model = _model()
    seen = model.fit(X, Y, epochs=epochs, verbose=0, callbacks=[scheduler]).history["learning_rate"]
    assert seen == pytest.approx([0.5] * epochs)


def test_a_checkpoint_whose_model_takes_no_augmentation_draws_is_refused_on_resume(tmp_path):
    from geosiam.model.data import PlaceBatches
    from geosiam.model.train import check_model_inputs
    from tests.model.test_data import _marked_cache

    names = ("anchor_image", "other_image", "anchor_mask", "other_mask")
    inputs = {name: keras.Input((8, 8) if "mask" in name else (8, 8, 3), name=name) for name in names}
    flat = [keras.layers.Flatten()(tensor) for tensor in inputs.values()]
    old = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Concatenate()(flat)))
    batches = PlaceBatches(_marked_cache(n=4), 4, seed=0, augment=True)
    with pytest.raises(ModelError, match="older geosiam.*start a new --run"):
        check_model_inputs(old, batches, tmp_path / "epoch-0002.keras")
    check_model_inputs(old, PlaceBatches(_marked_cache(n=4), 4, seed=0, augment=False), tmp_path / "x.keras")
    check_model_inputs(old, batches, None)  # a new run builds its model from the batches' names
