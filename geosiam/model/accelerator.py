"""What the machine offers (CPU, GPUs, TPU) and what the "auto" training settings become on it.

The only backend-specific code of the model package lives here: asking a GPU whether it computes
in bfloat16, and data parallelism over several devices: ``keras.distribution.DataParallel`` on
JAX (one host or several), TensorFlow's ``MirroredStrategy`` (one host; Keras 3's
``keras.distribution`` is for JAX only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator, Mapping

import keras

from geosiam.config import TrainSettings
from geosiam.errors import SettingsError, TrainingError

log = logging.getLogger(__name__)

ACCELERATOR_BACKBONE = "resnet50"  # the reference
CPU_BACKBONE = "mobilenetv3small"  # small enough to train on CPU cores, where ResNet50 crawls


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
        import jax  # lazy: only the backend in use is imported

        return tuple(int(v) for v in str(jax.devices()[0].compute_capability).split(".")[:2])
    if backend == "tensorflow":
        import tensorflow as tf  # lazy: only the backend in use is imported

        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        return tuple(details.get("compute_capability", (0, 0)))
    if backend == "torch":
        import torch  # lazy: only the backend in use is imported

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


CLUSTER_VARIABLES = (  # Keras's own names: keras.distribution.initialize reads them too
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",  # host:port of process 0, the coordinator (or every process's)
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",  # 0 .. NUM_PROCESSES - 1, one per host
)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Where this process stands among the processes (one per host) that train together."""

    job_addresses: str
    num_processes: int
    process_id: int


def cluster_settings(environ: Mapping[str, str]) -> Cluster | None:
    """The multi-host settings in ``environ`` (None when there are none), checked: one-line
    errors for a partial or inconsistent set, or a backend that cannot train on several hosts."""
    given = {name: environ[name].strip() for name in CLUSTER_VARIABLES if environ.get(name, "").strip()}
    if not given:
        return None
    fix = f"set all three on every host ({', '.join(CLUSTER_VARIABLES)}; README: Training on several hosts)"
    missing = [name for name in CLUSTER_VARIABLES if name not in given]
    if missing:
        raise SettingsError(f"multi-host training needs {', '.join(missing)} too: {fix}")
    addresses, count, index = (given[name] for name in CLUSTER_VARIABLES)
    if not (count.isdigit() and int(count) >= 1 and index.isdigit() and int(index) < int(count)):
        raise SettingsError(
            f"KERAS_DISTRIBUTION_NUM_PROCESSES={count} and KERAS_DISTRIBUTION_PROCESS_ID={index}: the "
            "number of processes is a whole number, and each process's id one of 0 .. that number - 1"
        )
    hosts = addresses.split(",")
    well_formed = all(h.rpartition(":")[0] and h.rpartition(":")[2].isdigit() for h in hosts)
    if not well_formed or len(hosts) not in (1, int(count)):
        raise SettingsError(
            f"KERAS_DISTRIBUTION_JOB_ADDRESSES={addresses} is not host:port of the coordinator (process 0), "
            f"or of each of the {count} processes separated by commas"
        )
    backend = keras.backend.backend()
    if backend != "jax":
        raise SettingsError(
            f"multi-host training runs on JAX, not {backend}: set KERAS_BACKEND=jax on every host"
        )
    return Cluster(addresses, int(count), int(index))


def join_cluster(environ: Mapping[str, str] = os.environ) -> Cluster | None:
    """Join the processes of a multi-host run when ``environ`` says there is one (see
    :func:`cluster_settings`): ``keras.distribution.initialize``, before any device is used, after
    which Keras lists every host's devices and :func:`distribution_scope` spans them all."""
    cluster = cluster_settings(environ)
    if cluster is not None:
        try:
            keras.distribution.initialize(cluster.job_addresses, cluster.num_processes, cluster.process_id)
        except Exception as exc:  # JAX reports an unreachable coordinator as RuntimeError or XlaRuntimeError
            why = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]}"
            raise TrainingError(
                f"process {cluster.process_id} of {cluster.num_processes} cannot join the coordinator at "
                f"{cluster.job_addresses.split(',')[0]} ({why}): start process 0 there, and check that "
                "its address and port are reachable from this host"
            ) from None
    return cluster


def replicas() -> int:
    """How many devices a training batch is split over: every device Keras computes on (all
    hosts' with :func:`join_cluster`), 1 on one device or on the torch backend."""
    return device_count() if keras.backend.backend() in ("jax", "tensorflow") else 1


@contextlib.contextmanager
def distribution_scope() -> Iterator[int]:
    """Data parallelism over every device Keras computes on, when it sees several: a context to
    build, compile, fit and mine in; yields the number of replicas.

    Several devices are several GPUs (or TPU cores), all hosts' after :func:`join_cluster`, or
    CPUs split on purpose (``XLA_FLAGS=--xla_force_host_platform_device_count=N`` on JAX,
    ``tf.config.set_logical_device_configuration`` on TensorFlow); a plain CPU is one device.
    Each batch is split over the replicas, whose gradients are summed: on JAX the step computes
    what one device would (the loss and batch normalisation see the whole batch); on TensorFlow
    each replica computes the loss of its own share (see :func:`check_batch_split`).
    """
    devices = keras.distribution.list_devices()
    backend = keras.backend.backend()
    if len(devices) >= 2 and backend in ("jax", "tensorflow"):
        log.info("data parallel over %d devices: %s", len(devices), ", ".join(devices))
    if len(devices) < 2:
        yield 1
    elif backend == "jax":
        # geosiam's batches are PyDatasets: each process feeds its own (Keras shards only tf.data)
        with keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False).scope():
            yield len(devices)
    elif backend == "tensorflow":
        import tensorflow as tf  # lazy: the TensorFlow backend's own data parallelism

        with tf.distribute.MirroredStrategy([d.upper() for d in devices]).scope():
            yield len(devices)
    else:
        log.warning("%d devices but the %s backend: training on one", len(devices), backend)
        yield 1


def check_batch_split(rows: int, replicas: int, in_batch: bool) -> None:
    """A training batch of ``rows`` must split evenly over the replicas (one-line error); on
    TensorFlow, a notice that an in-batch loss (``in_batch``) contrasts each replica's share."""
    if rows % replicas:
        raise SettingsError(
            f"a training batch of {rows} tiles does not split evenly over {replicas} devices: "
            f"choose --batch-anchors so that it does (a multiple of {replicas} for infonce)"
        )
    if in_batch and replicas > 1 and keras.backend.backend() == "tensorflow":
        log.warning(
            "TensorFlow's %d replicas each contrast their own %d places (infonce): fewer negatives "
            "than one device sees (JAX contrasts the whole batch)",
            replicas,
            rows // replicas,
        )


def batch_norms(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The batch-normalisation layers of ``model`` and of the models nested in it."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += batch_norms(layer)
    return found


def synchronise_batch_norm(model: keras.Model, replicas: int) -> None:
    """On TensorFlow's replicas, batch normalisation over the whole batch, as on one device (and
    on JAX), rather than over each replica's share: the same step, at one all-reduce per layer."""
    if replicas > 1 and keras.backend.backend() == "tensorflow":
        for layer in batch_norms(model):
            layer.synchronized = True


@contextlib.contextmanager
def portable(model: keras.Model) -> Iterator[None]:
    """A context to save ``model`` in: without synchronised batch normalisation, a TensorFlow-only
    setting that other backends refuse to load (it is a training detail, not the model's)."""
    synchronised = [layer for layer in batch_norms(model) if layer.synchronized]
    for layer in synchronised:
        layer.synchronized = False
    try:
        yield
    finally:
        for layer in synchronised:
            layer.synchronized = True
