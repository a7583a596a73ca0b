"""Training logs: TensorBoard event files without TensorFlow, curves without staircases."""

import os
import subprocess
import sys
import textwrap

from geosiam.model.curves import curves_of, read_curves, write_curves_png
from geosiam.model.logs import ScalarWriter

HISTORY = [
    {"epoch": "1", "loss": "0.9", "mined": "0", "train_map5": "", "val_map5": ""},
    {"epoch": "2", "loss": "0.7", "mined": "1", "train_map5": "0.5", "val_map5": "0.4"},
    {"epoch": "3", "loss": "0.6", "mined": "0", "train_map5": "", "val_map5": ""},
]
MININGS = [{"epoch": 0, "train_map5": 0.1, "val_map5": 0.2}, {"epoch": 2, "train_map5": 0.5, "val_map5": 0.4}]


def scalars(folder):
    """{tag: [(step, value)]} of the TensorBoard event files in ``folder``, read by TensorBoard."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {
        tag: [(e.step, round(e.value, 6)) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def test_map_is_kept_only_where_it_was_measured():
    curves = curves_of(HISTORY, MININGS)
    assert curves.epochs == [1, 2, 3] and curves.loss == [0.9, 0.7, 0.6]
    assert curves.map_epochs == [0, 2]  # before training, then when mining: no value at 1 or 3
    assert curves.train_map5 == [0.1, 0.5] and curves.val_map5 == [0.2, 0.4]
    assert curves_of([], []).epochs == [] and curves_of([], []).map_epochs == []


def test_curves_png_is_drawn_from_the_run_folder(tmp_path):
    assert read_curves(tmp_path).epochs == []  # a run without history yet
    (tmp_path / "history.csv").write_text(
        "epoch,loss,mined,train_map5,val_map5\n1,0.9,0,,\n2,0.7,1,0.5,0.4\n", encoding="utf-8"
    )
    assert read_curves(tmp_path).map_epochs == [2]
    path = write_curves_png(tmp_path)
    assert path == tmp_path / "curves.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_event_files_are_read_by_tensorboard(tmp_path):
    writer = ScalarWriter(tmp_path / "train")
    writer.scalar("epoch_loss", 0.5, 1)
    writer.scalar("epoch_loss", 0.25, 2)
    writer.close()
    assert scalars(tmp_path / "train") == {"epoch_loss": [(1, 0.5), (2, 0.25)]}


def test_the_logs_callback_writes_overlaying_tags_without_tensorflow_on_jax(tmp_path):
    """The callback as training drives it, on the JAX backend, with TensorFlow never imported."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from types import SimpleNamespace
        from geosiam.model.logs import TrainingLogs
        history = {HISTORY!r}
        mining = SimpleNamespace(latest={{"epoch": 0, "train_map5": 0.1, "val_map5": 0.2,
                                 "hard_anchors": 7}}, initial_epoch=0)
        rows = SimpleNamespace(rows=[])
        logs = TrainingLogs(Path({str(tmp_path)!r}), rows, mining)
        logs.on_train_begin()
        for epoch, row in enumerate(history):
            rows.rows.append(row | {{"learning_rate": "0.001", "hard_anchors": "3"}})
            logs.on_epoch_end(epoch)
        logs.on_train_end()
        import keras
        print(keras.backend.backend(), [m for m in sys.modules if m.split(".")[0] == "tensorflow"])
    """)
    env = os.environ | {"KERAS_BACKEND": "jax"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["jax", "[]"]
    train, validation = scalars(tmp_path / "logs" / "train"), scalars(tmp_path / "logs" / "validation")
    assert train["epoch_map_at_5"] == [(0, 0.1), (2, 0.5)] and validation == {
        "epoch_map_at_5": [(0, 0.2), (2, 0.4)]
    }
    assert train["epoch_loss"] == [(1, 0.9), (2, 0.7), (3, 0.6)]
    assert [s for s, _ in train["epoch_learning_rate"]] == [1, 2, 3]
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_an_unfinished_epoch_logs_nothing(tmp_path):
    from types import SimpleNamespace

    from geosiam.model.logs import TrainingLogs

    history = SimpleNamespace(rows=[HISTORY[0] | {"learning_rate": "0.1"}])
    logs = TrainingLogs(tmp_path, history, SimpleNamespace(latest={}, initial_epoch=0))
    logs.on_train_begin()
    logs.on_epoch_end(1)  # epoch 2 ended without a history row (NaN loss)
    logs.on_train_end()
    assert scalars(tmp_path / "logs" / "train") == {} and not (tmp_path / "curves.png").exists()
