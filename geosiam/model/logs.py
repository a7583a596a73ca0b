"""Training logs on every Keras backend: TensorBoard event files and ``curves.png``.

Keras's own TensorBoard callback writes only on TensorFlow. These event files are written with
TensorBoard's pure-Python record writer and protocol buffers (no TensorFlow import), so JAX and
PyTorch runs log the same way. The layout is Keras's: ``logs/train`` and ``logs/validation``,
``epoch_``-prefixed tags, so that train and validation MAP@5 share the tag ``epoch_map_at_5``
and overlay in TensorBoard, as the loss does. MAP@5 is written only at the epochs where it was
measured (when mining), so TensorBoard draws no staircases.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import keras

from geosiam.model.curves import write_curves_png
from geosiam.runfolder import RunFolder

RUNS = ("train", "validation")


class ScalarWriter:
    """One TensorBoard event file of scalars, appended record by record and flushed each time."""

    def __init__(self, folder: Path) -> None:
        # lazy: the model runs where only keras and numpy are; logs need TensorBoard's protos
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder.mkdir(parents=True, exist_ok=True)
        self._event = event_pb2.Event
        name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.geosiam"
        self._file = open(folder / name, "ab")  # noqa: SIM115 (kept open across epochs, closed in close())
        self._records = RecordWriter(self._file)
        self._write(self._event(wall_time=time.time(), file_version="brain.Event:2"))

    def scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboard.compat.proto import summary_pb2  # lazy: as in __init__

        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))])
        self._write(self._event(wall_time=time.time(), step=int(step), summary=summary))

    def _write(self, event) -> None:
        self._records.write(event.SerializeToString())
        self._records.flush()

    def close(self) -> None:
        self._file.close()


class TrainingLogs(keras.callbacks.Callback):
    """After each epoch (after the history and the mining), the epoch's scalars to TensorBoard
    and a new ``curves.png``; the MAP@5 of the mining before training is logged at its epoch.

    ``history`` has the run's history ``rows``; ``mining`` its ``latest`` record and the
    ``initial_epoch``."""

    def __init__(self, run_dir: Path, history, mining) -> None:
        super().__init__()
        self.run_dir, self.history, self.mining = Path(run_dir), history, mining
        self.writers: dict[str, ScalarWriter] = {}

    def on_train_begin(self, logs=None):
        self.writers = {run: ScalarWriter(RunFolder(self.run_dir).logs_dir / run) for run in RUNS}
        first = self.mining.latest
        if first and int(first["epoch"]) == self.mining.initial_epoch:
            self._log_map(first)

    def on_epoch_end(self, epoch, logs=None):
        history = self.history.rows
        if not history or int(history[-1]["epoch"]) != epoch + 1:
            return  # the epoch did not finish (NaN loss): nothing to log
        row = history[-1]
        train = self.writers["train"]
        train.scalar("epoch_loss", float(row["loss"]), epoch + 1)
        train.scalar("epoch_learning_rate", float(row["learning_rate"]), epoch + 1)
        if int(row["mined"]):
            self._log_map(row)
        write_curves_png(self.run_dir)

    def _log_map(self, record: dict) -> None:
        step = int(record["epoch"])
        self.writers["train"].scalar("epoch_map_at_5", float(record["train_map5"]), step)
        self.writers["validation"].scalar("epoch_map_at_5", float(record["val_map5"]), step)
        self.writers["train"].scalar("epoch_hard_anchors", float(record["hard_anchors"]), step)

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()
