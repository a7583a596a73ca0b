"""``geosiam train``: a run folder, the training loop, periodic hard mining, resume.

A run lives in ``runs/<run>/`` (its files: :mod:`geosiam.runfolder`).

Mining happens before the first epoch and after every ``mine_every`` epochs (and the last):
embed every training tile of both years, exact kNN of each year against the other, hard
negatives for anchors whose match is not first; the training MAP@5 and the validation MAP@5
(val split, never test) are logged, and the best validation model is kept. After an epoch the
mining state and history are written, then the checkpoint: a killed run loses at most the epoch
in progress, and ``--resume`` continues from the last checkpoint with its optimizer state.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import time
from pathlib import Path

import keras
import numpy as np

from geosiam import atomic
from geosiam.config import Settings, TrainSettings, save_settings, to_dict
from geosiam.errors import ModelError, TrainingError, WorkspaceError
from geosiam.mining.miner import MAP_K, mine
from geosiam.model import accelerator
from geosiam.model.data import PairCache, PairFiles, TileBatches, load_pair_cache
from geosiam.model.device_knn import knn_keras
from geosiam.model.embedder import Embedder, save_embedding
from geosiam.model.labels import mask_file, masked_years, run_labels, workspace_labels
from geosiam.model.logs import TrainingLogs
from geosiam.model.recipes import recipe_of
from geosiam.model.siamese import (
    build_embedding_model,
    build_siamese_model,
    dtype_policy,
    embedding_of,
    model_inputs,
)
from geosiam.progress import progress
from geosiam.ranking import knn, map_at_k, retrieve
from geosiam.runfolder import RunFolder, checkpoint_epoch, new_run, run_to_resume
from geosiam.workspace import Workspace

log = logging.getLogger(__name__)

KEEP_CHECKPOINTS = 2
RESUMABLE_CHANGES = {
    "epochs",
    "learning_rate",
    "lr_schedule",
    "workers",
    "mine_every",
}  # may change on --resume
HISTORY_COLUMNS = [
    "epoch",
    "loss",
    "learning_rate",
    "seconds",
    "mined",
    "hard_anchors",
    "train_map5",
    "val_map5",
    "mining_seconds",
]
EMBED_BATCH = 64


def train_run(
    workspace: Workspace, settings: Settings, run_name: str | None = None, resume: bool = False
) -> Path:
    """Train (or resume) a run on a prepared workspace; returns the run folder."""
    workspace.require_prepared()
    train = accelerator.resolve(settings.train, settings.grid.tile_px)
    recipe = recipe_of(train.loss)
    run = run_to_resume(workspace, run_name) if resume else new_run(workspace, run_name)
    if resume and not train.labels:  # a resumed run keeps its label mode unless told otherwise
        train = dataclasses.replace(train, labels=run.load_settings().train.labels)
    train = dataclasses.replace(train, labels=run_labels(train, workspace_labels(settings)))
    settings = dataclasses.replace(settings, train=train)
    if resume:
        _check_resume(run, train)
    table = _class_table(workspace)
    known = table.colours()
    num_classes = table.num_classes
    colours = [known.get(i, (128, 128, 128)) for i in range(num_classes)]  # grey: unused ids
    caches = {
        split: _split_cache(workspace, split, train.input_px, num_classes, train.labels)
        for split in ("train", "val")
    }
    recipe.layout.check(len(caches["train"]), train.anchors_per_batch)
    save_settings(settings, run.settings_path)

    keras.utils.set_random_seed(train.seed)
    policy = accelerator.mixed_policy() if train.mixed_precision else "float32"
    checkpoint = run.last_checkpoint()
    with accelerator.distribution_scope(), dtype_policy(policy):
        if checkpoint is None:
            model = build_siamese_model(
                build_embedding_model(train, num_classes, train.input_px, colours), recipe.head
            )
            optimizer = keras.optimizers.Adam(train.learning_rate)
            initial_epoch = 0
        else:
            model = _load_checkpoint(checkpoint)
            optimizer = model.optimizer  # its rate is set at each epoch (learning_rate_at)
            initial_epoch = checkpoint_epoch(checkpoint)
        model.compile(
            optimizer=optimizer,
            loss=recipe.make_loss(train),
            jit_compile=train.jit_compile,
        )

    batches = recipe.layout.batches(
        caches["train"],
        train.anchors_per_batch,
        train.seed,
        train.augment,
        model_inputs(train),
        workers=train.workers,
        greyscale=train.greyscale,
        mask_dropout=train.mask_dropout,
    )
    keeper = RunKeeper(run, train, num_classes, batches, caches, initial_epoch)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keeper,
        TrainingLogs(run.root, keeper),
        TrainingProgress(keeper),
    ]
    if initial_epoch < train.epochs:
        model.fit(batches, epochs=train.epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0)
    if keeper.nan_epoch:
        last = run.last_checkpoint()
        good = checkpoint_epoch(last) if last else 0
        raise TrainingError(
            f"the loss became NaN in epoch {keeper.nan_epoch} at learning rate "
            f"{train.learning_rate:g}; the last good checkpoint (epoch {good}) is kept: continue "
            f"with --resume --lr {train.learning_rate / 10:g}"
        )
    return run.root


def learning_rate_at(train: TrainSettings, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based): constant, or cosine decay towards 0."""
    if train.lr_schedule == "cosine":
        return train.learning_rate * 0.5 * (1.0 + math.cos(math.pi * epoch / train.epochs))
    return train.learning_rate


def _class_table(workspace: Workspace):
    from geosiam.rasterize.classes import load_classes

    return load_classes(workspace.classes_path if workspace.classes_path.exists() else None)


def _split_cache(workspace: Workspace, split: str, input_px: int, num_classes: int, labels: str) -> PairCache:
    """The split's packed pairs; the masks of a year the label mode leaves out are never read."""
    from geosiam.tiling.tables import read_pairs

    pairs = read_pairs(workspace.pairs_index, split)
    if pairs.empty:
        raise TrainingError(
            f"the {split} split of {workspace.pairs_index} has no pairs: prepare a larger area, "
            "or change the split fractions (split.fractions in geosiam.toml) and prepare again"
        )
    files = PairFiles(
        pair_ids=[str(p) for p in pairs["pair_id"]],
        images=tuple([workspace.absolute(p) for p in pairs[f"image_{s}"]] for s in "ab"),
        masks=tuple(
            [mask_file(workspace, p) if used else None for p in pairs[f"mask_{s}"]]
            for s, used in zip("ab", masked_years(labels))
        ),
    )
    for path in (*files.images[0], *files.images[1], *files.masks[0], *files.masks[1]):
        if path is not None and not path.exists():
            raise WorkspaceError(
                f"{path} is listed in pairs.gpkg but missing: run 'geosiam prepare' again to rebuild it"
            )
    return load_pair_cache(workspace.cache_dir / "train" / split, files, input_px, num_classes)


def resumed_settings(workspace: Workspace, settings: Settings, run_name: str | None) -> Settings:
    """``settings`` with the training settings of the run to resume (``run_name`` or the latest),
    so that ``--resume`` needs no option repeated; options given again go over them."""
    return dataclasses.replace(settings, train=run_to_resume(workspace, run_name).load_settings().train)


def _check_resume(run: RunFolder, train: TrainSettings) -> None:
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


def _load_checkpoint(path: Path) -> keras.Model:
    try:
        return keras.saving.load_model(path)
    except Exception as exc:  # a corrupt archive surfaces as ValueError, OSError, KeyError...
        raise ModelError(
            f"cannot load checkpoint {path} ({type(exc).__name__}): delete it to resume from the one before"
        ) from None


@dataclasses.dataclass
class MiningState:
    """What mining has found so far; saved with each epoch so that a resumed run continues it."""

    best_val_map5: float = -1.0
    best_epoch: int = -1
    minings: list[dict] = dataclasses.field(default_factory=list)


class RunKeeper(keras.callbacks.Callback):
    """Sets the batch epoch, mines, records history, keeps the best model and the checkpoints."""

    def __init__(
        self,
        run: RunFolder,
        train: TrainSettings,
        num_classes: int,
        batches: TileBatches,
        caches: dict[str, PairCache],
        initial_epoch: int,
    ):
        super().__init__()
        self.run, self.train, self.num_classes = run, train, num_classes
        self.batches, self.caches, self.initial_epoch = batches, caches, initial_epoch
        self.search = knn_keras if accelerator.has_accelerator() else knn
        self.nan_epoch = 0
        self.latest: dict = {}
        self.history = self._read_history()
        self.state = self._read_state()
        self.epoch_started = 0.0

    # --- persistence ---------------------------------------------------------------------------
    def _read_history(self) -> list[dict]:
        path = self.run.history_path
        if not path.exists():
            return []
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        return [r for r in rows if int(r["epoch"]) <= self.initial_epoch]

    def _read_state(self) -> MiningState | None:
        state_path, hard_path = self.run.mining_state_path, self.run.hard_negatives_path
        if self.initial_epoch == 0 or not state_path.exists() or not hard_path.exists():
            return None
        state = MiningState(**json.loads(state_path.read_text(encoding="utf-8")))
        hard = np.load(hard_path)
        if hard.shape[:2] != self.batches.hard_negatives.shape[:2]:
            return None  # the training pairs changed since: mine again
        self.batches.hard_negatives = hard
        return state

    def _write_history(self) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(self.history)
        atomic.write_text(self.run.history_path, text.getvalue())

    def _write_state(self) -> None:
        atomic.write_text(self.run.mining_state_path, json.dumps(dataclasses.asdict(self.state), indent=1))
        with atomic.atomic_path(self.run.hard_negatives_path, suffix=".npy") as tmp:
            np.save(tmp, self.batches.hard_negatives)

    def _write_checkpoint(self, epoch: int) -> None:
        with atomic.atomic_path(self.run.checkpoint_path(epoch), suffix=".keras") as tmp:
            self.model.save(tmp)
        for old in self.run.checkpoints()[:-KEEP_CHECKPOINTS]:
            old.unlink()

    # --- mining --------------------------------------------------------------------------------
    def embedder(self) -> Embedder:
        return Embedder(
            embedding_of(self.model),
            self.train,
            self.num_classes,
            self.train.input_px,
            self.train.image_only,
            identity="training",
        )

    def describe(self, cache: PairCache) -> tuple[np.ndarray, np.ndarray]:
        embedder = self.embedder()
        return tuple(embedder.embed(cache.images[s], cache.masks[s], EMBED_BATCH) for s in (0, 1))

    def mine(self, epoch: int) -> dict:
        started = time.perf_counter()
        older, newer = self.describe(self.caches["train"])
        mining = mine(older, newer, self.train.hard_negatives, self.search)
        self.batches.hard_negatives = mining.hard_negatives
        val_older, val_newer = self.describe(self.caches["val"])
        val_map5 = map_at_k(retrieve(val_newer, val_older, MAP_K, self.search).ranks, MAP_K)
        if val_map5 > self.state.best_val_map5:
            self.state.best_val_map5, self.state.best_epoch = val_map5, epoch
            save_embedding(embedding_of(self.model), self.train, self.num_classes, self.run.root)
        record = {
            "epoch": epoch,
            "hard_anchors": mining.hard_anchors,
            "train_map5": mining.map_at_5,
            "val_map5": val_map5,
            "mining_seconds": round(time.perf_counter() - started, 3),
        }
        self.state.minings.append(record)
        log.info(
            "mining after epoch %d: %d of %d anchors hard, train MAP@5 %.3f, val MAP@5 %.3f",
            epoch,
            mining.hard_anchors,
            2 * len(self.caches["train"]),
            mining.map_at_5,
            val_map5,
        )
        self.latest = record
        return record

    # --- Keras hooks ---------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if self.state is None:
            self.state = MiningState()
            self.mine(self.initial_epoch)
            self._write_state()

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch
        self.model.optimizer.learning_rate.assign(learning_rate_at(self.train, epoch))
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        done = epoch + 1
        loss = float(logs.get("loss", float("nan")))
        if not math.isfinite(loss):
            self.nan_epoch = done
            self.model.stop_training = True
            return
        seconds = time.perf_counter() - self.epoch_started
        row = {
            "epoch": done,
            "loss": f"{loss:.6g}",
            "seconds": round(seconds, 3),
            "mined": 0,
            "learning_rate": f"{float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)):g}",
        }
        if done % self.train.mine_every == 0 or done == self.train.epochs:
            mined = self.mine(done)
            row |= mined | {"mined": 1}
            logs.update({k: v for k, v in mined.items() if k.endswith("map5")})  # measured epochs only
        self.history.append(row)
        self._write_history()
        self._write_state()
        self._write_checkpoint(done)


class TrainingProgress(keras.callbacks.Callback):
    """An epoch bar (loss, MAP@5 of the latest mining) and a step bar (loss)."""

    def __init__(self, keeper: RunKeeper):
        super().__init__()
        self.keeper = keeper
        self.epochs = self.steps = None

    def on_train_begin(self, logs=None):
        self.epochs = progress(
            total=self.params["epochs"],
            initial=self.keeper.initial_epoch,
            desc="training",
            unit="epoch",
            leave=True,
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
        latest = self.keeper.latest
        self.epochs.set_postfix(
            loss=f"{float((logs or {}).get('loss', float('nan'))):.4f}",
            train_map5=f"{latest.get('train_map5', float('nan')):.3f}",
            val_map5=f"{latest.get('val_map5', float('nan')):.3f}",
        )

    def on_train_end(self, logs=None):
        if self.steps is not None:
            self.steps.close()
        self.epochs.close()
