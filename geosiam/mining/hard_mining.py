"""Hard mining while training, and keeping the best model: a Keras callback.

Mining happens before the first epoch and after every ``mine_every`` epochs (and the last):
every training tile of both years is described with the current weights, each year queries the
other (:func:`geosiam.mining.miner.mine`), and anchors whose match is not first get their
nearest wrong neighbours as hard negatives in the next batches. The training MAP@5 and the
validation MAP@5 (val split, never test) are measured, and the model with the best validation
MAP@5 is kept. The mining state (``mining.json``, ``hard_negatives.npy``) is written atomically
after each mining, so that a resumed run continues it. On several hosts every process mines
(from the same descriptors), all train on process 0's hard negatives, and process 0 alone writes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable

import keras
import numpy as np

from geosiam import atomic
from geosiam.config import TrainSettings
from geosiam.mining.miner import MAP_K, mine
from geosiam.model import accelerator
from geosiam.model.data import PairCache, TileBatches
from geosiam.model.train import finished
from geosiam.ranking import KnnFunction, knn, map_at_k, retrieve
from geosiam.runfolder import RunFolder

log = logging.getLogger(__name__)

Describe = Callable[[keras.Model, PairCache], tuple[np.ndarray, np.ndarray]]  # -> (older, newer)
KeepBest = Callable[[keras.Model], None]


@dataclasses.dataclass
class MiningState:
    """What mining has found so far; saved after each mining so that a resumed run continues it."""

    best_val_map5: float = -1.0
    best_epoch: int = -1
    minings: list[dict] = dataclasses.field(default_factory=list)


class HardMining(keras.callbacks.Callback):
    """Mines before training and when due, sets the batches' hard negatives, keeps the best model.

    ``describe(model, cache)`` gives the descriptors of a split's two years with the training
    model's current weights; ``keep_best(model)`` saves the model that has the best validation
    MAP@5 so far. A mined epoch's figures go into the epoch's ``logs`` (for the history).
    Without ``writes`` (the other processes of several hosts), it neither keeps nor saves.
    """

    def __init__(
        self,
        run: RunFolder,
        train: TrainSettings,
        batches: TileBatches,
        caches: dict[str, PairCache],
        initial_epoch: int,
        describe: Describe,
        keep_best: KeepBest,
        search: KnnFunction = knn,
        writes: bool = True,
    ):
        super().__init__()
        self.run, self.train, self.batches, self.caches = run, train, batches, caches
        self.initial_epoch, self.describe, self.keep_best, self.search = (
            initial_epoch,
            describe,
            keep_best,
            search,
        )
        self.writes = writes
        self.latest: dict = {}
        self.state = self._read_state()

    def _read_state(self) -> MiningState | None:
        """The saved state of a resumed run; None when mining must start again."""
        state_path, hard_path = self.run.mining_state_path, self.run.hard_negatives_path
        if self.initial_epoch == 0 or not state_path.exists() or not hard_path.exists():
            return None
        hard = np.load(hard_path)
        if hard.shape[:2] != self.batches.hard_negatives.shape[:2]:
            return None  # the training pairs changed since: mine again
        self.batches.hard_negatives = hard
        return MiningState(**json.loads(state_path.read_text(encoding="utf-8")))

    def _write_state(self) -> None:
        atomic.write_text(self.run.mining_state_path, json.dumps(dataclasses.asdict(self.state), indent=1))
        with atomic.atomic_path(self.run.hard_negatives_path, suffix=".npy") as tmp:
            np.save(tmp, self.batches.hard_negatives)

    def due(self, epochs_done: int) -> bool:
        """Whether to mine after ``epochs_done`` epochs: every ``mine_every``, and after the last."""
        return epochs_done % self.train.mine_every == 0 or epochs_done == self.train.epochs

    def mine(self, epoch: int) -> dict:
        """Mine with the current weights after ``epoch`` epochs; returns the mining's record."""
        started = time.perf_counter()
        older, newer = self.describe(self.model, self.caches["train"])
        mining = mine(older, newer, self.train.hard_negatives, self.search)
        self.batches.hard_negatives = accelerator.from_coordinator(mining.hard_negatives)
        val_older, val_newer = self.describe(self.model, self.caches["val"])
        val_map5 = map_at_k(retrieve(val_newer, val_older, MAP_K, self.search).ranks, MAP_K)
        if val_map5 > self.state.best_val_map5:
            self.state.best_val_map5, self.state.best_epoch = val_map5, epoch
            if self.writes:
                self.keep_best(self.model)
        record = {
            "epoch": epoch,
            "hard_anchors": mining.hard_anchors,
            "train_map5": mining.map_at_5,
            "val_map5": val_map5,
            "mining_seconds": round(time.perf_counter() - started, 3),
        }
        self.state.minings.append(record)
        if self.writes:
            self._write_state()
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

    def on_train_begin(self, logs=None):
        if self.state is None:
            self.state = MiningState()
            self.mine(self.initial_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if finished(logs) and self.due(epoch + 1):
            record = self.mine(epoch + 1)
            logs.update({key: value for key, value in record.items() if key != "epoch"} | {"mined": 1})
