"""``geosiam train``: training with periodic hard mining, in a run folder, and its resume.

A run's files are described in :mod:`geosiam.runfolder`; the training model, its data and the
callbacks that keep a run in :mod:`geosiam.model.train`; mining and keeping the best model in
:mod:`geosiam.mining.hard_mining`. Everything that can be checked (the run's name, its resume,
the loss) is checked before the training caches are packed. ``--resume`` continues from the last
checkpoint with its optimizer state, its mining state and its learning-rate schedule.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import keras
import numpy as np

from geosiam.config import Settings, TrainSettings, save_settings
from geosiam.mining.hard_mining import HardMining
from geosiam.model import accelerator
from geosiam.model.cache import split_cache
from geosiam.model.data import PairCache
from geosiam.model.device_knn import knn_keras
from geosiam.model.embedder import Embedder, save_embedding
from geosiam.model.labels import run_labels, workspace_labels
from geosiam.model.logs import TrainingLogs
from geosiam.model.recipes import PLACES, LossRecipe, recipe_of
from geosiam.model.siamese import embedding_of, model_inputs
from geosiam.model.train import (
    BatchEpoch,
    Checkpoints,
    EpochHistory,
    NanStop,
    TrainingProgress,
    check_model_inputs,
    check_resume,
    class_table,
    learning_rate_schedule,
    training_model,
)
from geosiam.model.workers import set_workers
from geosiam.ranking import knn
from geosiam.runfolder import RunFolder, new_run, run_to_resume
from geosiam.workspace import Workspace

EMBED_BATCH = 64  # tiles per device
UNUSED_CLASS_COLOUR = (128, 128, 128)


def train_run(
    workspace: Workspace, settings: Settings, run_name: str | None = None, resume: bool = False
) -> Path:
    """Train (or resume) a run on a prepared workspace; returns the run folder."""
    workspace.require_prepared()
    accelerator.join_cluster()  # several hosts: before any device is used
    with accelerator.stopping_together("starting the run"):  # several hosts: an error stops all
        train = accelerator.resolve(settings.train, settings.grid.tile_px)
        recipe = recipe_of(train.loss)
        run = run_to_resume(workspace, run_name) if resume else new_run(workspace, run_name)
        if resume and not train.labels:  # a resumed run keeps its label mode unless told otherwise
            train = dataclasses.replace(train, labels=run.load_settings().train.labels)
        train = dataclasses.replace(train, labels=run_labels(train, workspace_labels(settings)))
        settings = dataclasses.replace(settings, train=train)
        if resume:
            check_resume(run, train)
        table = class_table(workspace)
        known = table.colours()
        colours = [known.get(i, UNUSED_CLASS_COLOUR) for i in range(table.num_classes)]
        with accelerator.coordinator_first("packing the training caches") as coordinator:  # one writer
            caches = {
                split: split_cache(workspace, split, train.input_px, table.num_classes, train.labels)
                for split in ("train", "val")
            }
            recipe.layout.check(len(caches["train"]), train.anchors_per_batch)
            in_batch = recipe.layout is PLACES
            accelerator.check_batch_split(
                recipe.layout.rows(train.anchors_per_batch), accelerator.replicas(), in_batch
            )
            if coordinator:
                save_settings(settings, run.settings_path)

    keras.utils.set_random_seed(train.seed)
    policy = accelerator.mixed_policy() if train.mixed_precision else "float32"
    with accelerator.distribution_scope() as replicas:  # the whole run: building, fitting, mining
        _fit(run, train, recipe, table.num_classes, colours, policy, caches, replicas)
    accelerator.barrier("run written")  # several hosts: the others read the run once process 0 wrote it
    return run.root


def _fit(
    run: RunFolder,
    train: TrainSettings,
    recipe: LossRecipe,
    num_classes: int,
    colours: list,
    policy: str,
    caches: dict[str, PairCache],
    replicas: int,
) -> Path:
    """Build (or resume) the training model, and fit it with the callbacks that keep the run
    (on several hosts, every process trains and mines; process 0 alone writes the run's files)."""
    model, initial_epoch = training_model(run, train, recipe, num_classes, colours, policy, replicas)
    batches = recipe.layout.batches(
        caches["train"],
        train.anchors_per_batch,
        train.seed,
        train.augment,
        model_inputs(train),
        greyscale=train.greyscale,
        mask_dropout=train.mask_dropout,
        host=accelerator.host_share(),
    )
    check_model_inputs(model, batches, run.last_checkpoint() if initial_epoch else None)
    set_workers(batches, train.workers, accelerator.has_accelerator())
    nan_stop, history = NanStop(), EpochHistory(run, initial_epoch)
    writes = accelerator.is_coordinator()
    mining = HardMining(
        run,
        train,
        batches,
        caches,
        initial_epoch,
        describe=partial(describe_pairs, train=train, num_classes=num_classes, batch=EMBED_BATCH * replicas),
        keep_best=lambda model: save_embedding(embedding_of(model), train, num_classes, run.root),
        search=knn_keras if accelerator.has_accelerator() else knn,
        writes=writes,
    )
    keeping = [history, Checkpoints(run), TrainingLogs(run.root, history, mining)] if writes else []
    callbacks = [  # in this order: an epoch's mining state and history are written before its checkpoint
        keras.callbacks.TerminateOnNaN(),  # within the epoch, at the first NaN batch
        nan_stop,
        learning_rate_schedule(train),
        BatchEpoch(batches),
        mining,
        *keeping,
        TrainingProgress(initial_epoch, mining),
    ]
    if initial_epoch < train.epochs:
        model.fit(batches, epochs=train.epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0)
    if nan_stop.nan_epoch:
        raise nan_stop.error(run, train)
    return run.root


def describe_pairs(
    model: keras.Model, cache: PairCache, train: TrainSettings, num_classes: int, batch: int = EMBED_BATCH
) -> tuple[np.ndarray, np.ndarray]:
    """The descriptors of a split's two years (older, newer) with the training model's weights, by
    batches of ``batch`` (``EMBED_BATCH`` per device, so that they split over the replicas)."""
    embedder = Embedder(
        embedding_of(model), train, num_classes, train.input_px, train.image_only, identity="training"
    )
    return tuple(embedder.embed(cache.images[side], cache.masks[side], batch) for side in (0, 1))
