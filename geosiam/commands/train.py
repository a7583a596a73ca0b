"""``geosiam train``: the fused Siamese model with periodic hard mining, in a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer

from geosiam.commands.options import WORKSPACE
from geosiam.config import (
    AUTO,
    BACKBONE_NAMES,
    LOSSES,
    LR_SCHEDULES,
    MASK_ENCODINGS,
    RUN_LABELS,
    with_overrides,
)
from geosiam.runfolder import RunFolder, resumed_settings
from geosiam.workspace import Workspace


def train(
    run: str = typer.Option(None, "--run", help="Run name (folder under runs/); default: a timestamp."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run (--run NAME, or the latest) from its last checkpoint.",
    ),
    backbone: Literal[(*BACKBONE_NAMES, AUTO)] = typer.Option(
        None,
        "--backbone",
        help="Backbone network (default auto: resnet50 on a GPU, mobilenetv3small on CPU).",
    ),
    weights: str = typer.Option(
        None, "--weights", help="Backbone start: imagenet (default), none, or a weights file."
    ),
    descriptor_dim: int = typer.Option(None, "--descriptor-dim", help="Descriptor size (default 128)."),
    loss: Literal[LOSSES] = typer.Option(
        None,
        "--loss",
        help="Loss (default bce, the reference; infonce: in-batch negatives, learns fastest).",
    ),
    margin: float = typer.Option(
        None, "--margin", help="Distance margin of contrastive and triplet losses (default 0.5)."
    ),
    temperature: float = typer.Option(
        None, "--temperature", help="Softmax temperature of the infonce loss (default 0.1)."
    ),
    mask_encoding: Literal[MASK_ENCODINGS] = typer.Option(
        None, "--mask-encoding", help="How the mask enters the network (default onehot; rgb: class colours)."
    ),
    image_only: bool = typer.Option(
        None, "--image-only/--fused", help="Train on the image alone, without mask channels."
    ),
    mask_only: bool = typer.Option(
        None, "--mask-only", help="The ablation on masks alone, without the image (needs labels 'both')."
    ),
    mask_dropout: float = typer.Option(
        None,
        "--mask-dropout",
        help="Share of training pairs whose mask is removed on one side (0-1, default 0): one network "
        "for fused and image-only inputs.",
    ),
    labels: Literal[RUN_LABELS] = typer.Option(
        None,
        "--labels",
        help="Which years' masks to use (default: the workspace's labels); newer: the older year's "
        "are never read.",
    ),
    greyscale: float = typer.Option(
        None, "--greyscale", help="Share of tiles that augmentation turns grey (0-1, default 0.2)."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Epochs in total (default 100)."),
    batch_anchors: int = typer.Option(
        None,
        "--batch-anchors",
        help="Anchors per batch; each gives 4 pairs (default 6). "
        "infonce: distinct places per batch (try 64).",
    ),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate (default 1e-4)."),
    lr_schedule: Literal[LR_SCHEDULES] = typer.Option(
        None, "--lr-schedule", help="Learning rate: constant (default), or cosine: decays to 0 over --epochs."
    ),
    mine_every: int = typer.Option(
        None, "--mine-every", help="Hard mining and validation every N epochs (default 5)."
    ),
    hard_negatives: int = typer.Option(
        None, "--hard-negatives", help="Hard negatives kept per hard anchor (default 4)."
    ),
    input_px: int = typer.Option(
        None, "--input-px", help="Network input size in pixels (default: the tile size)."
    ),
    augment: bool = typer.Option(
        None, "--augment/--no-augment", help="Flips, rotations and colour jitter (default on)."
    ),
    mixed_precision: bool = typer.Option(
        None, "--mixed-precision/--no-mixed-precision", help="Mixed precision (default: on with a GPU)."
    ),
    xla: bool = typer.Option(None, "--xla/--no-xla", help="XLA compilation (default: on with a GPU or JAX)."),
    seed: int = typer.Option(None, "--seed", help="Seed of weights, batches and augmentations."),
    workers: str = typer.Option(
        None, "--workers", help="Threads preparing batches: a number, or auto (default: measured at start)."
    ),
    workspace: Path = WORKSPACE,
) -> None:
    """Train the fused Siamese network on a prepared workspace, mining hard pairs as it goes.

    Settings: defaults < the train section of the workspace's geosiam.toml < these options; with
    --resume, the run's own settings < the options given again (only resumable ones may differ).
    Prints the run folder and its best validation MAP@5.
    """
    from geosiam.mining.training import train_run  # lazy: Keras, for a fast --help

    ws = Workspace(workspace)
    overrides = {
        "train.backbone": backbone,
        "train.weights": weights,
        "train.descriptor_dim": descriptor_dim,
        "train.loss": loss,
        "train.margin": margin,
        "train.temperature": temperature,
        "train.mask_encoding": mask_encoding,
        "train.image_only": image_only,
        "train.mask_only": mask_only,
        "train.mask_dropout": mask_dropout,
        "train.labels": labels,
        "train.greyscale": greyscale,
        "train.epochs": epochs,
        "train.anchors_per_batch": batch_anchors,
        "train.learning_rate": lr,
        "train.lr_schedule": lr_schedule,
        "train.mine_every": mine_every,
        "train.hard_negatives": hard_negatives,
        "train.input_px": input_px,
        "train.augment": augment,
        "train.mixed_precision": mixed_precision,
        "train.jit_compile": xla,
        "train.seed": seed,
        "train.workers": _workers(workers),
    }
    settings = ws.require_prepared()
    if resume:  # the run's own settings, under the options given again
        settings = resumed_settings(ws, settings, run)
    settings = with_overrides(settings, overrides)
    run_dir = train_run(ws, settings, run, resume)
    state = json.loads(RunFolder(run_dir).mining_state_path.read_text(encoding="utf-8"))
    print(f"{run_dir}: best validation MAP@5 {state['best_val_map5']:.3f} (epoch {state['best_epoch']})")


def _workers(value: str | None) -> int | None:
    """``--workers``: a number of threads, or ``auto`` (0 in the settings: measured at start)."""
    if value is None:
        return None
    if value == "auto":
        return 0
    if not value.isdigit() or int(value) < 1:
        raise typer.BadParameter(
            f"--workers '{value}' is neither a number of threads nor auto: use --workers 4 or --workers auto"
        )
    return int(value)
