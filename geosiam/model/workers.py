"""How many threads assemble training batches: ``--workers auto`` measures and picks.

A worker only copies uint8 tiles out of the memory-mapped cache (numpy releases the GIL while it
copies) and draws a few numbers per image; the colour work runs in the model. The floor is one
worker on TensorFlow, whose tf.data prefetches from it (two threads through Keras's own queue
measured slower on 2 CPU cores, benchmarks/gpu_train.py --workers 1 and 2; README), and two
elsewhere, Keras's queue being the only prefetch (one worker builds each batch inside the
training loop). Above it, ``auto`` times a few batches in this thread and gives the device
enough workers to be fed at :data:`FASTEST_IMAGES_PER_S`, the fastest rate a device has been
measured to consume images at (an H200 embedding ResNet50 at 256 px forward only,
benchmarks/results/gpu_h200.md; training is slower), never more than the cores less one (the
loop's own). On CPUs the model is far slower than that and the floor is picked.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass

import keras

from geosiam.model.data import TileBatches

log = logging.getLogger(__name__)

AUTO = 0  # the ``workers`` setting that asks for a measured choice
MIN_WORKERS = 2  # Keras's PyDataset queue prefetches from two workers on
FASTEST_IMAGES_PER_S = 9000.0
TIMED_BATCHES = 3


@dataclass(frozen=True)
class WorkerChoice:
    """The picked worker count and what it was picked from."""

    workers: int
    seconds_per_batch: float  # one worker, measured
    images_per_batch: int
    accelerated: bool

    def describe(self) -> str:
        device = (
            f"an accelerator may need one every {self.step_floor * 1000:.1f} ms"
            if self.accelerated
            else "the CPU's training steps take far longer"
        )
        return (
            f"--workers auto: {self.workers} thread(s) (one assembles a {self.images_per_batch}-image "
            f"batch in {self.seconds_per_batch * 1000:.1f} ms; {device})"
        )

    @property
    def step_floor(self) -> float:
        """The shortest step the device could take, in seconds (CPU: not bounded here)."""
        return self.images_per_batch / FASTEST_IMAGES_PER_S if self.accelerated else math.inf


def fewest_workers() -> int:
    """The fewest workers that still overlap batch assembly with training on this backend."""
    return 1 if keras.backend.backend() == "tensorflow" else MIN_WORKERS


def pick_workers(batches: TileBatches, accelerated: bool, cores: int | None = None) -> WorkerChoice:
    """Time :data:`TIMED_BATCHES` batches (after one that warms the page cache) and pick."""
    batches[0]
    started = time.perf_counter()
    for index in range(TIMED_BATCHES):
        inputs, _ = batches[index % len(batches)]
    seconds = (time.perf_counter() - started) / TIMED_BATCHES
    images = 2 * len(next(iter(inputs.values())))  # two tiles per couple
    floor = fewest_workers()
    choice = WorkerChoice(floor, seconds, images, accelerated)
    needed = math.ceil(seconds / choice.step_floor) + 1 if accelerated else floor
    ceiling = max((cores or os.cpu_count() or 1) - 1, floor)
    return WorkerChoice(min(max(needed, floor), ceiling), seconds, images, accelerated)


def set_workers(batches: TileBatches, workers: int, accelerated: bool) -> None:
    """Give ``batches`` the ``workers`` asked for, or (:data:`AUTO`) the measured choice, said."""
    if workers != AUTO:
        batches.workers = workers
        return
    choice = pick_workers(batches, accelerated)
    batches.workers = choice.workers
    log.warning(choice.describe())
