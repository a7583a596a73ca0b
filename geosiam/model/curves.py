"""A run's training curves: loss by epoch, and train and validation MAP@5 where they were measured.

They come from the run folder (``history.csv``, one row per epoch, and ``mining.json``, which also
holds the mining before the first epoch), so that ``curves.png``, TensorBoard and the HTML report
show the same figures. MAP@5 is only measured when mining (every ``mine_every`` epochs): it is
kept at those epochs only, never carried over to the epochs in between.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from geosiam import atomic
from geosiam.runfolder import RunFolder


@dataclass(frozen=True)
class Curves:
    """Loss by epoch and MAP@5 at the measured epochs (0 = before training)."""

    epochs: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    map_epochs: list[int] = field(default_factory=list)
    train_map5: list[float] = field(default_factory=list)
    val_map5: list[float] = field(default_factory=list)


def curves_of(history: list[dict], minings: list[dict] = ()) -> Curves:
    """Curves from history rows (as in history.csv) and mining records (as in mining.json)."""
    rows = sorted(history, key=lambda r: int(r["epoch"]))
    measured = {int(m["epoch"]): m for m in minings}
    measured |= {int(r["epoch"]): r for r in rows if str(r.get("mined", "0")) == "1"}
    points = [
        (e, _number(m.get("train_map5")), _number(m.get("val_map5"))) for e, m in sorted(measured.items())
    ]
    return Curves(
        epochs=[int(r["epoch"]) for r in rows],
        loss=[_number(r.get("loss")) for r in rows],
        map_epochs=[e for e, _, _ in points],
        train_map5=[t for _, t, _ in points],
        val_map5=[v for _, _, v in points],
    )


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_curves(run_dir: Path) -> Curves:
    """The curves of a run folder; empty when it has no history yet."""
    run = RunFolder(Path(run_dir))
    history_path, state_path = run.history_path, run.mining_state_path
    history = (
        list(csv.DictReader(io.StringIO(history_path.read_text(encoding="utf-8"))))
        if history_path.exists()
        else []
    )
    minings = (
        json.loads(state_path.read_text(encoding="utf-8")).get("minings", []) if state_path.exists() else []
    )
    return curves_of(history, minings)


def curves_figure(curves: Curves, title: str = ""):
    """Two panels: the training loss, and train and validation MAP@5 (markers where measured)."""
    from matplotlib.figure import Figure  # lazy: the model runs where only keras and numpy are

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    loss_ax, map_ax = fig.subplots(1, 2)
    loss_ax.plot(curves.epochs, curves.loss, marker=".", color="#444444")
    loss_ax.set(title="training loss", xlabel="epoch", ylabel="loss")
    map_ax.plot(curves.map_epochs, curves.train_map5, marker="o", label="train")
    map_ax.plot(curves.map_epochs, curves.val_map5, marker="s", label="validation")
    map_ax.set(title="MAP@5 (measured when mining)", xlabel="epoch", ylabel="MAP@5", ylim=(0, 1.02))
    map_ax.legend(loc="lower right", fontsize="small")
    for ax in (loss_ax, map_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    return fig


def write_curves_png(run_dir: Path) -> Path:
    """``curves.png`` in the run folder, from its history, written atomically."""
    run = RunFolder(Path(run_dir))
    path = run.curves_path
    fig = curves_figure(read_curves(run.root), f"run {run.name}")
    with atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path
