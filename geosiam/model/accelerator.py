"""What the machine offers (CPU, GPUs, TPU) and what the "auto" training settings become on it.

The only backend-specific code of the model package lives here: asking a GPU whether it computes
in bfloat16, and data parallelism over several devices: ``keras.distribution.DataParallel`` on
JAX (one host or several), TensorFlow's ``MirroredStrategy`` (one host; Keras 3's
``keras.distribution`` is for JAX only). On several hosts (JAX), the processes also need what
Keras does not give: the share of each batch a process feeds (:func:`host_share`), embedding
across processes (:func:`predict`: Keras's ``predict`` cannot fetch an output that spans other
hosts' devices), one writer of the run folder (:func:`is_coordinator`, :func:`coordinator_first`)
and the coordinator's mining decisions on every host (:func:`from_coordinator`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import weakref
from collections.abc import Iterator, Mapping

import keras
import numpy as np

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
    fix = f"set all three on every host ({', '.join(CLUSTER_VARIABLES)}; README: Several hosts)"
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
    setting that other backends refuse to load (it is a training detail, not the model's); and,
    on several hosts, outside the distribution, so that one process can save alone (Keras makes
    variables while it saves, which a multi-host distribution would place on every host's devices,
    a step that every process must take together)."""
    synchronised = [layer for layer in batch_norms(model) if layer.synchronized]
    for layer in synchronised:
        layer.synchronized = False
    distribution = keras.distribution.distribution()
    if process_count() > 1:
        keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(distribution)
        for layer in synchronised:
            layer.synchronized = True


# --- several hosts (JAX): what each process feeds, embeds and writes ---------------------------
def process_count() -> int:
    """How many processes train together: more than one only on JAX after :func:`join_cluster`."""
    if keras.backend.backend() != "jax":
        return 1
    import jax  # lazy: only the backend in use is imported

    return jax.process_count()


def is_coordinator() -> bool:
    """Whether this process writes the run's files: process 0 of several hosts, or the only one."""
    if process_count() == 1:
        return True
    import jax  # lazy: only the backend in use is imported

    return jax.process_index() == 0


def host_share() -> tuple[int, int]:
    """(index, count): this process feeds the index-th count-th of every training batch, its
    consecutive rows in process order (:meth:`geosiam.model.data.TileBatches.own_rows`), which
    Keras places on its own devices: the trainer's global batch is then the batch one host would
    feed. Checked against the distribution's batch layout (call it in :func:`distribution_scope`)."""
    count = process_count()
    if count == 1:
        return 0, 1
    import jax  # lazy: only the backend in use is imported

    index = jax.process_index()
    distribution = keras.distribution.distribution()
    rows = distribution.device_mesh.devices.size  # one row per device
    layout = distribution.get_data_layout((rows,)).backend_layout
    held = sorted(where[0].start for where in layout.addressable_devices_indices_map((rows,)).values())
    if held != list(range(index * rows // count, (index + 1) * rows // count)):
        raise TrainingError(
            f"process {index} of {count} holds rows {held} of a batch of {rows}, not a consecutive "
            "share in process order: give every host the same number of devices"
        )
    return index, count


class StoppedElsewhere(TrainingError):
    """Another process of a multi-host run stopped on an error, so this one stops too."""


def barrier(name: str, failed: bool = False) -> None:
    """Wait until every process gets here (nothing to wait for in one process). A process that
    gets here on an error (``failed``) stops the others: they raise :class:`StoppedElsewhere`
    (a one-line error) instead of waiting for it."""
    count = process_count()
    if count == 1:
        return
    from jax.experimental import multihost_utils  # lazy: only the backend in use is imported

    stopped = np.flatnonzero(multihost_utils.process_allgather(np.int32(failed)))
    if stopped.size and not failed:
        which = ", ".join(map(str, stopped))
        raise StoppedElsewhere(
            f"process {which} of the {count} that train together stopped on an error while this one "
            f"was {name} (process {which}'s own message says which): fix it, then start every process again"
        )


@contextlib.contextmanager
def stopping_together(name: str) -> Iterator[None]:
    """A context that every process leaves together: an error on one process stops the others
    at their next :func:`barrier` in it, or at its end, rather than leaving them waiting for
    that process at their next step together (until JAX's coordination service gives up)."""
    try:
        yield
    except StoppedElsewhere:
        raise
    except Exception:
        barrier(name, failed=True)
        raise
    barrier(name)


@contextlib.contextmanager
def coordinator_first(name: str) -> Iterator[bool]:
    """A context that process 0 runs first and the others after it, all having got to it first:
    what process 0 writes there (the run's settings, the training caches, on a file system the
    hosts may share) is written once, after every process has checked the state before it, and
    the others find it complete. Yields whether this process is the coordinator."""
    coordinator = is_coordinator()
    barrier(name)
    if not coordinator:
        barrier(name)
    yield coordinator
    if coordinator:
        barrier(name)


def from_coordinator(array: np.ndarray) -> np.ndarray:
    """Process 0's ``array`` on every process, so that all hosts train on one decision (mined
    hard negatives) whatever each host's arithmetic; ``array`` itself in one process."""
    if process_count() == 1:
        return array
    from jax.experimental import multihost_utils  # lazy: only the backend in use is imported

    return np.asarray(multihost_utils.broadcast_one_to_all(array))


_HOST_PREDICTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> compiled step


def predict(model: keras.Model, inputs: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
    """``model.predict`` of ``inputs`` (whole batches of ``batch_size`` rows), also on several hosts.

    There, every process holds all the rows and the same weights (replicated); each batch is laid
    out over every host's devices as training lays out its batches, each device taking its own
    rows, and the output comes back whole to every process: the same descriptors on every host,
    computed once, at the pace of all devices together."""
    distribution = keras.distribution.distribution()
    if process_count() == 1 or distribution is None:  # outside a distribution: this host's device
        return model.predict(inputs, batch_size=batch_size, verbose=0)
    import jax  # lazy: only the backend in use is imported

    if model not in _HOST_PREDICTORS:  # compiled once per model (a weak reference: no cycle)
        mesh = distribution.device_mesh.backend_mesh
        whole = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())  # replicated
        held = weakref.ref(model)
        _HOST_PREDICTORS[model] = jax.jit(
            lambda trainable, fixed, batch: held().stateless_call(trainable, fixed, batch, training=False)[0],
            out_shardings=whole,
        )
    step = _HOST_PREDICTORS[model]
    weights = [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]
    rows = len(next(iter(inputs.values())))
    outputs = []
    for start in range(0, rows, batch_size):
        batch = {}
        for name, array in inputs.items():
            shape = (batch_size, *array.shape[1:])
            layout = distribution.get_data_layout(shape).backend_layout
            part = array[start : start + batch_size]
            batch[name] = jax.make_array_from_callback(
                shape, layout, lambda where, part=part: np.asarray(part[where])
            )
        outputs.append(np.asarray(step(*weights, batch)))
    return np.concatenate(outputs)
