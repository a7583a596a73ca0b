"""Training a Siamese model in a run folder: the training model (new, or resumed from the last
checkpoint with its optimizer state), the training data, and the callbacks that keep a run.

A run's files: :mod:`geosiam.runfolder`. Each callback does one thing and can be used alone:

- :func:`learning_rate_schedule`: Keras's ``LearningRateScheduler`` with the run's schedule; it
  is given the absolute epoch, so a resumed run continues its schedule where it stopped;
- :class:`NanStop`: stops at the first epoch whose loss is not finite (nothing of it is written);
- :class:`BatchEpoch`: tells the batches which epoch it is (their order and augmentations);
- :class:`EpochHistory`: ``history.csv``, one row per finished epoch, written atomically;
- :class:`Checkpoints`: the training model after each finished epoch, atomically, the last two kept;
- :class:`TrainingProgress`: the epoch and step bars.

Hard mining and keeping the best model are the mining layer's (:mod:`geosiam.mining.hard_mining`),
and so is the run that wires it all together (:mod:`geosiam.mining.training`).
Callbacks run in the order given, so that the mining state and the history of an epoch are on
disk before its checkpoint: a killed run loses at most the epoch in progress.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import keras

from geosiam import atomic
from geosiam.config import TrainSettings, to_dict
from geosiam.errors import ModelError, TrainingError
from geosiam.model import accelerator
from geosiam.model.data import TileBatches
from geosiam.model.recipes import LossRecipe
from geosiam.model.siamese import build_embedding_model, build_siamese_model, dtype_policy, input_names
from geosiam.progress import progress
from geosiam.rasterize.classes import ClassTable, load_classes
from geosiam.runfolder import RunFolder, checkpoint_epoch
from geosiam.workspace import Workspace

KEEP_CHECKPOINTS = 2
RESUMABLE_CHANGES = {
    "epochs",
    "learning_rate",
    "lr_schedule",
    "workers",
    "mine_every",
}  # may change on --resume
MINING_COLUMNS = ["mined", "hard_anchors", "train_map5", "val_map5", "mining_seconds"]
HISTORY_COLUMNS = ["epoch", "loss", "learning_rate", "seconds", *MINING_COLUMNS]


# --- what a run trains on and from ------------------------------------------------------------
def class_table(workspace: Workspace) -> ClassTable:
    """The class table the workspace's masks were burnt with."""
    return load_classes(workspace.classes_path if workspace.classes_path.exists() else None)


def check_resume(run: RunFolder, train: TrainSettings) -> None:
    """A resumed run continues with its own settings (its label mode above all)."""
    before = to_dict(run.load_settings().train)
    now = to_dict(train)
    if (before.get("labels") or "both") != now["labels"]:
        raise ModelError(
            f"run '{run.name}' was trained with labels '{before.get('labels') or 'both'}', not "
            f"'{now['labels']}': resume it without --labels, or start a new --run"
        )
    changed = sorted(
        k for k in set(before) | set(now) if k not in RESUMABLE_CHANGES and before.get(k) != now.get(k)
    )
    if changed:
        raise ModelError(
            f"run '{run.name}' was made with other settings ({', '.join(changed)}): "
            "resume with its options, or start a new --run"
        )


def training_model(
    run: RunFolder,
    train: TrainSettings,
    recipe: LossRecipe,
    num_classes: int,
    colours,
    policy: str,
    replicas: int = 1,
) -> tuple[keras.Model, int]:
    """The compiled training model and the epoch it starts at: from the run's last checkpoint
    (weights and optimizer state), or new. Build it in :func:`accelerator.distribution_scope`,
    which gives ``replicas``."""
    checkpoint = run.last_checkpoint()
    with dtype_policy(policy):
        if checkpoint is None:
            embedding = build_embedding_model(train, num_classes, train.input_px, colours)
            model = build_siamese_model(embedding, recipe.head, train.augment)
            optimizer, initial_epoch = keras.optimizers.Adam(train.learning_rate), 0
        else:
            model = _load_checkpoint(checkpoint)
            optimizer, initial_epoch = model.optimizer, checkpoint_epoch(checkpoint)
        accelerator.synchronise_batch_norm(model, replicas)
        model.compile(optimizer=optimizer, loss=recipe.make_loss(train), jit_compile=train.jit_compile)
    return model, initial_epoch


def _load_checkpoint(path: Path) -> keras.Model:
    try:
        return keras.saving.load_model(path)
    except Exception as exc:  # a corrupt archive surfaces as ValueError, OSError, KeyError...
        raise ModelError(
            f"cannot load checkpoint {path} ({type(exc).__name__}): delete it to resume from the one before"
        ) from None


def check_model_inputs(model: keras.Model, batches: TileBatches, checkpoint: Path | None) -> None:
    """A checkpoint saved before augmentation moved into the model takes no augmentation draws."""
    if checkpoint is not None and input_names(model) != batches.input_names:
        raise ModelError(
            f"checkpoint {checkpoint} was saved by an older geosiam whose training model takes "
            f"{', '.join(sorted(input_names(model)))}: finish the run with that version, or start a new --run"
        )


# --- the callbacks that keep a run ------------------------------------------------------------
def learning_rate_at(train: TrainSettings, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based): constant, or cosine decay towards 0."""
    if train.lr_schedule == "cosine":
        return train.learning_rate * 0.5 * (1.0 + math.cos(math.pi * epoch / train.epochs))
    return train.learning_rate


def learning_rate_schedule(train: TrainSettings) -> keras.callbacks.LearningRateScheduler:
    """Keras's scheduler with the run's schedule; ``logs["learning_rate"]`` holds the epoch's rate."""
    return keras.callbacks.LearningRateScheduler(lambda epoch, rate: learning_rate_at(train, epoch))


def finished(logs: dict | None) -> bool:
    """Whether an epoch finished with a finite loss (an epoch stopped by NaN did not)."""
    return math.isfinite(float((logs or {}).get("loss", math.nan)))


class NanStop(keras.callbacks.Callback):
    """Stops training at the first epoch whose loss is not finite, and remembers it (1-based)."""

    def __init__(self):
        super().__init__()
        self.nan_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if not finished(logs):
            self.nan_epoch = epoch + 1
            self.model.stop_training = True

    def error(self, run: RunFolder, train: TrainSettings) -> TrainingError:
        """The one-line error after a NaN stop: where to resume from, with a lower rate."""
        last = run.last_checkpoint()
        good = checkpoint_epoch(last) if last else 0
        return TrainingError(
            f"the loss became NaN in epoch {self.nan_epoch} at learning rate "
            f"{train.learning_rate:g}; the last good checkpoint (epoch {good}) is kept: continue "
            f"with --resume --lr {train.learning_rate / 10:g}"
        )


class BatchEpoch(keras.callbacks.Callback):
    """Tells the batches the epoch about to run, which sets their order and augmentations."""

    def __init__(self, batches: TileBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch


class EpochHistory(keras.callbacks.Callback):
    """``history.csv``: one row per finished epoch (loss, learning rate, seconds, and the mining
    figures where the epoch mined), rewritten atomically; a resumed run keeps the rows of the
    epochs its checkpoint holds."""

    def __init__(self, run: RunFolder, initial_epoch: int):
        super().__init__()
        self.run = run
        self.rows = read_history(run, initial_epoch)
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if not finished(logs):
            return
        row = {
            "epoch": epoch + 1,
            "loss": f"{float(logs['loss']):.6g}",
            "learning_rate": f"{float(logs.get('learning_rate', math.nan)):g}",
            "seconds": round(time.perf_counter() - self.started, 3),
            "mined": 0,
        }
        row |= {column: logs[column] for column in MINING_COLUMNS if column in logs}
        self.rows.append(row)
        text = io.StringIO()
        writer = csv.DictWriter(text, HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic.write_text(self.run.history_path, text.getvalue())


def read_history(run: RunFolder, up_to_epoch: int) -> list[dict]:
    """The rows of ``history.csv`` up to epoch ``up_to_epoch`` (none when the file is absent)."""
    if not run.history_path.exists():
        return []
    rows = csv.DictReader(io.StringIO(run.history_path.read_text(encoding="utf-8")))
    return [row for row in rows if int(row["epoch"]) <= up_to_epoch]


class Checkpoints(keras.callbacks.Callback):
    """The training model (weights and optimizer state) after each finished epoch, written
    atomically; the last ``keep`` are kept."""

    def __init__(self, run: RunFolder, keep: int = KEEP_CHECKPOINTS):
        super().__init__()
        self.run, self.keep = run, keep

    def on_epoch_end(self, epoch, logs=None):
        if not finished(logs):
            return
        with atomic.atomic_path(self.run.checkpoint_path(epoch + 1), suffix=".keras") as tmp:
            with accelerator.portable(self.model):
                self.model.save(tmp)
        for old in self.run.checkpoints()[: -self.keep]:
            old.unlink()


class TrainingProgress(keras.callbacks.Callback):
    """An epoch bar (loss, MAP@5 of the latest mining) and a step bar (loss).

    ``mining`` is anything with a ``latest`` dict (the hard-mining callback)."""

    def __init__(self, initial_epoch: int, mining):
        super().__init__()
        self.initial_epoch, self.mining = initial_epoch, mining
        self.epochs = self.steps = None

    def on_train_begin(self, logs=None):
        self.epochs = progress(
            total=self.params["epochs"], initial=self.initial_epoch, desc="training", unit="epoch", leave=True
        )

    def on_epoch_begin(self, epoch, logs=None):
        self.steps = progress(total=self.params.get("steps"), desc=f"epoch {epoch + 1}", unit="batch")

    def on_train_batch_end(self, batch, logs=None):
        self.steps.update(1)
        if logs and "loss" in logs:
            self.steps.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        self.steps.close()
        self.epochs.update(1)
        latest = self.mining.latest
        self.epochs.set_postfix(
            loss=f"{float((logs or {}).get('loss', float('nan'))):.4f}",
            train_map5=f"{latest.get('train_map5', float('nan')):.3f}",
            val_map5=f"{latest.get('val_map5', float('nan')):.3f}",
        )

    def on_train_end(self, logs=None):
        if self.steps is not None:
            self.steps.close()
        self.epochs.close()
