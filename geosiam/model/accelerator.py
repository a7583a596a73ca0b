"""What the machine offers (CPU, GPUs, TPU) and what the "auto" training settings become on it.

The only backend-specific code of the model package lives here: asking a GPU whether it computes
in bfloat16, and TensorFlow's multi-GPU strategy (Keras 3 has ``keras.distribution`` for JAX only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import keras

from geosiam.config import TrainSettings

log = logging.getLogger(__name__)

ACCELERATOR_BACKBONE = "resnet50"  # the reference
CPU_BACKBONE = "mobilenetv3small"  # ~7x faster than ResNet50 on 2 CPU cores at 64 px (peers.md)


def device_kind() -> str:
    """``gpu``, ``tpu`` or ``cpu``: the devices Keras computes on."""
    return keras.distribution.list_devices()[0].split(":")[0].lower()


def device_count() -> int:
    return len(keras.distribution.list_devices())


def has_accelerator() -> bool:
    return device_kind() != "cpu"


def mixed_policy() -> str:
    """``mixed_bfloat16`` on CPUs, TPUs and GPUs that have it (compute capability 8.0+), else
    ``mixed_float16``."""
    if device_kind() != "gpu":
        return "mixed_bfloat16"
    return "mixed_bfloat16" if _gpu_capability() >= (8, 0) else "mixed_float16"


def _gpu_capability() -> tuple[int, int]:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return tuple(int(v) for v in str(jax.devices()[0].compute_capability).split(".")[:2])
    if backend == "tensorflow":
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        return tuple(details.get("compute_capability", (0, 0)))
    if backend == "torch":
        import torch

        return torch.cuda.get_device_capability()
    return (0, 0)


def resolve(settings: TrainSettings, tile_px: int | None) -> TrainSettings:
    """Concrete values for ``auto``/``None``/0 settings on this machine (a notice when the
    backbone is chosen for a CPU)."""
    accelerated = has_accelerator()
    backbone = settings.backbone
    if backbone == "auto":
        backbone = ACCELERATOR_BACKBONE if accelerated else CPU_BACKBONE
        if not accelerated:
            log.warning(
                "no GPU found: training %s instead of %s (pass --backbone resnet50 to insist)",
                CPU_BACKBONE,
                ACCELERATOR_BACKBONE,
            )
    return dataclasses.replace(
        settings,
        backbone=backbone,
        input_px=settings.input_px or tile_px or 256,
        mixed_precision=accelerated if settings.mixed_precision is None else settings.mixed_precision,
        jit_compile=_default_jit() if settings.jit_compile is None else settings.jit_compile,
    )


def _default_jit() -> bool:
    # JAX always compiles with XLA; TensorFlow only gains from XLA on accelerators
    return keras.backend.backend() == "jax" or has_accelerator()


def distribution_scope():
    """Data parallelism over all GPUs of the machine: a context to build and compile the model in."""
    if device_count() < 2 or not has_accelerator():
        return contextlib.nullcontext()
    backend = keras.backend.backend()
    if backend == "jax":
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        return contextlib.nullcontext()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    log.warning("several GPUs but the %s backend: training on one", backend)
    return contextlib.nullcontext()
