"""Data-parallel training on two CPU devices, on JAX (``keras.distribution.DataParallel``) and on
TensorFlow (``MirroredStrategy``): one step is the step on one device, and embedding and mining
run under the distribution.

A process sees its devices when its backend starts, so each case runs in a subprocess that splits
the CPU in two before anything else: ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` for
JAX, two logical devices (``tf.config.set_logical_device_configuration``) for TensorFlow.
"""

import csv
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

from tests.retrieval.factory import make_workspace

# the same geosiam code on both backends; only the way the CPU is split in two differs
STEP = textwrap.dedent("""
    import contextlib, json, sys
    import keras, numpy as np
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from geosiam.config import TrainSettings
    from geosiam.ranking import knn
    from geosiam.mining.miner import mine
    from geosiam.model import accelerator
    from geosiam.model.embedder import Embedder
    from geosiam.model.recipes import recipe_of
    from geosiam.model.siamese import build_embedding_model, build_siamese_model, embedding_of

    recipe = recipe_of("bce")
    train = TrainSettings(backbone="mobilenetv3small", weights="none", input_px=32, descriptor_dim=8,
                          loss="bce", workers=1)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 8, 32, 32, 3), dtype=np.uint8)  # 8 places, two years
    masks = rng.integers(0, 3, (2, 8, 32, 32), dtype=np.uint8)
    batch = {"anchor_image": images[0], "other_image": images[1][::-1],
             "anchor_mask": masks[0], "other_mask": masks[1][::-1]}
    labels = (np.arange(8) % 2).astype(np.float32)[:, None]

    def devices_holding(variable):
        value = variable.value
        if hasattr(value, "sharding"):  # a JAX array
            return len(value.sharding.device_set)
        return len(getattr(value, "values", [value]))  # a TensorFlow mirrored variable holds one per device

    def step(scope):
        with scope as replicas:
            keras.utils.set_random_seed(1)
            model = build_siamese_model(build_embedding_model(train, 3, 32, None), recipe.head)
            accelerator.synchronise_batch_norm(model, replicas)
            before = [np.array(w) for w in model.get_weights()]
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss=recipe.make_loss(train))
            loss = model.fit(batch, labels, batch_size=8, epochs=1, shuffle=False, verbose=0).history["loss"]
            updates = [np.array(w) - b for w, b in zip(model.get_weights(), before)]
            embedder = Embedder(embedding_of(model), train, 3, 32, False, identity="step")
            older, newer = (embedder.embed(images[s], masks[s], 8 * replicas) for s in (0, 1))
            mining = mine(older, newer, 2, knn)
            with accelerator.portable(model):
                saved = [layer.synchronized for layer in accelerator.batch_norms(model)]
            kept = [layer.synchronized for layer in accelerator.batch_norms(model)]
            return dict(replicas=replicas, holding=devices_holding(model.trainable_weights[0]),
                        loss=loss[0], updates=updates, descriptors=np.concatenate([older, newer]),
                        mined=mining.hard_negatives.shape, saved_sync=any(saved), kept_sync=all(kept))

    one = step(contextlib.nullcontext(1))
    two = step(accelerator.distribution_scope())
    scale = max(float(np.abs(u).max()) for u in one["updates"])
    print(json.dumps(dict(
        replicas=[one["replicas"], two["replicas"]],
        holding=[one["holding"], two["holding"]],
        loss=[one["loss"], two["loss"]],
        update_scale=scale,
        update_difference=max(float(np.abs(a - b).max()) for a, b in zip(one["updates"], two["updates"])),
        descriptor_difference=float(np.abs(one["descriptors"] - two["descriptors"]).max()),
        mined=list(two["mined"]),
        saved_sync=two["saved_sync"],
        kept_sync=two["kept_sync"],
    )))
""")

TWO_CPUS = {
    # JAX compiles a backbone at the lowest XLA optimisation level: the same step, half the CPU time
    "jax": {"XLA_FLAGS": "--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=0"},
    "tensorflow": {},
}


def run_on_two_cpus(backend: str, script: str, timeout: int = 900) -> str:
    env = os.environ | {"KERAS_BACKEND": backend} | TWO_CPUS[backend]
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_one_step_on_two_devices_is_the_step_on_one_and_embedding_and_mining_run(backend):
    found = json.loads(run_on_two_cpus(backend, STEP).splitlines()[-1])
    assert found["replicas"] == [1, 2] and found["holding"] == [1, 2]  # every weight on both devices
    assert found["loss"][1] == pytest.approx(found["loss"][0], rel=1e-5)
    assert found["update_scale"] > 1e-3  # the step moved the weights...
    assert found["update_difference"] < 1e-3 * found["update_scale"]  # ...as on one device
    assert found["descriptor_difference"] < 1e-4
    assert found["mined"] == [2, 8, 2]
    # TensorFlow normalises over both replicas' shares; the saved model does not say so
    assert found["kept_sync"] == (backend == "tensorflow") and not found["saved_sync"]


JOIN = textwrap.dedent("""
    import json, keras, numpy as np
    from geosiam.errors import SettingsError
    from geosiam.model import accelerator
    cluster = accelerator.join_cluster()
    with accelerator.distribution_scope() as replicas:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse")
        share = np.arange(16, dtype="float32").reshape(4, 4) + 100 * cluster.process_id  # this host's
        loss = model.fit(share, np.zeros((4, 2), "float32"), batch_size=4, verbose=0).history["loss"]

    def attempt(failing, where):
        # start as train_run starts, with an error on process `failing` at `where`
        try:
            with accelerator.stopping_together("starting"):
                if where == "check" and cluster.process_id == failing:
                    raise SettingsError("this process's check failed")
                with accelerator.coordinator_first("writing") as coordinator:
                    if where == "write" and coordinator:
                        raise OSError("the disk is full")
            return "started"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    stops = [attempt(None, None), attempt(1, "check"), attempt(0, "write"), attempt(None, None)]
    print(json.dumps([cluster.process_id, keras.distribution.list_devices(), replicas, loss, stops]))
""")


def free_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return free.getsockname()[1]


def run_processes(script: str, env: dict, timeout: int) -> list[tuple[str, str]]:
    """(stdout, stderr) of ``script`` run by processes 0 and 1 of a two-process cluster at once."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env | {"KERAS_DISTRIBUTION_PROCESS_ID": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=timeout) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs[0][1][-3000:] + outputs[1][1][-3000:]
    return outputs


def keras_weights(path) -> list[np.ndarray]:
    """Every array of a saved ``.keras`` model (weights and optimizer state), by name, read
    from the archive's HDF5 file without a Keras backend."""
    arrays = []
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5:
        h5.visititems(lambda name, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_two_processes_join_one_cluster_train_data_parallel_and_stop_together_on_an_error():
    """Two "hosts" on 127.0.0.1, each with one CPU device: after geosiam joins them through
    keras.distribution.initialize (its settings from Keras's environment variables), each
    process sees both devices, and a step in geosiam's distribution takes each host's share of
    the batch. An error on one process while a run starts (a check, or process 0 writing)
    stops the other with a one-line error instead of leaving it waiting, and both go on in step."""
    env = os.environ | {
        "KERAS_BACKEND": "jax",
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{free_port()}",
        "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
    }
    outputs = run_processes(JOIN, env, timeout=300)
    found = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert [process for process, *_ in found] == [0, 1] and [run[2] for run in found] == [2, 2]
    devices = found[0][1]  # JAX numbers another process's devices from 2048 on
    assert len(devices) == 2 and found[1][1] == devices and devices[0] == "cpu:0"
    # one step on both hosts' shares of the batch: both report the loss of the whole batch
    assert found[0][3] == found[1][3] and found[0][3][0] > 0
    stopped = (
        "StoppedElsewhere: process {} of the 2 that train together stopped on an error while this one was {}"
    )
    assert [run[4][0] for run in found] == ["started"] * 2 == [run[4][-1] for run in found]  # in step
    check, write = zip(found[0][4][1:3], found[1][4][1:3])
    assert check[0].startswith(stopped.format(1, "writing")) and check[1].startswith("SettingsError")
    assert write[0] == "OSError: the disk is full" and write[1].startswith(stopped.format(0, "writing"))


def train_run_script(workspace, run_name: str, epochs: int = 1, resume: bool = False) -> str:
    """A script that trains (or resumes) ``run_name`` on ``workspace`` (a tiny backbone, mining
    after every epoch) with geosiam's train_run, and prints each time it keeps the best model."""
    return textwrap.dedent(f"""
        import dataclasses, logging
        from pathlib import Path
        import geosiam.mining.training as training
        from geosiam.workspace import Workspace
        logging.basicConfig(level=logging.INFO)
        save_embedding = training.save_embedding
        def counted(*args, **kwargs):
            print("kept the best model", flush=True)
            return save_embedding(*args, **kwargs)
        training.save_embedding = counted
        workspace = Workspace(Path({str(workspace.root)!r}))
        settings = workspace.load_settings()
        settings.train = dataclasses.replace(settings.train, weights="none", epochs={epochs}, mine_every=1,
                                             descriptor_dim=8, workers=1, anchors_per_batch=2)
        training.train_run(workspace, settings, {run_name!r}, resume={resume})
    """)


def tiny_workspace(root):
    return make_workspace(root, places=5, px=32, splits=["train"] * 3 + ["val"] * 2)


def train_on_two_devices(workspace, run_name: str) -> subprocess.CompletedProcess:
    env = os.environ | {"KERAS_BACKEND": "jax"} | TWO_CPUS["jax"]
    done = subprocess.run(
        [sys.executable, "-c", train_run_script(workspace, run_name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data parallel over 2 devices: cpu:0, cpu:1" in done.stderr
    return done


@pytest.mark.slow  # JAX compiles the training and embedding steps of a backbone: minutes on 2 cores
def test_a_whole_run_trains_and_mines_data_parallel_on_two_devices(tmp_path):
    workspace = tiny_workspace(tmp_path / "ws")
    train_on_two_devices(workspace, "two-devices")
    run = workspace.run_dir("two-devices")
    history = list(csv.DictReader((run / "history.csv").read_text().splitlines()))
    assert [row["mined"] for row in history] == ["1"]  # one epoch, mined after it
    assert (run / "model.keras").exists() and (run / "checkpoints" / "epoch-0001.keras").exists()


@pytest.mark.slow  # three processes compile a backbone's training and embedding steps: minutes on 2 cores
def test_two_hosts_train_a_whole_run_as_one_host_with_their_devices_and_process_0_writes_it(tmp_path):
    """Two "hosts" on 127.0.0.1 (one CPU device each) run geosiam's train_run on one workspace (a
    shared file system): each feeds its share of every batch, both mine (embedding across the
    two processes), process 0 alone writes the run; and the run is the run of one process with
    two devices: the same loss, the same mining, the same weights. Both resume it together."""
    workspace = tiny_workspace(tmp_path / "ws")
    train_on_two_devices(workspace, "one-host")  # the reference; it packs the training caches
    env = os.environ | {
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_backend_optimization_level=0",  # as TWO_CPUS, one device per process
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{free_port()}",
        "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
    }
    outputs = run_processes(train_run_script(workspace, "two-hosts"), env, timeout=1800)
    for _, err in outputs:
        assert "data parallel over 2 devices: cpu:0, cpu:2048" in err
        # both processes mined, before training and after the epoch
        assert err.count("INFO:geosiam.mining.hard_mining:mining after epoch") == 2
    assert [out.count("kept the best model") > 0 for out, _ in outputs] == [True, False]
    one, two = workspace.run_dir("one-host"), workspace.run_dir("two-hosts")
    assert len(list((two / "logs" / "train").glob("events.out.tfevents.*"))) == 1  # one writer
    assert [p.name for p in (two / "checkpoints").iterdir()] == ["epoch-0001.keras"]
    histories = [list(csv.DictReader((run / "history.csv").read_text().splitlines())) for run in (one, two)]
    assert [row["epoch"] for row in histories[1]] == ["1"]
    for column in ("loss", "train_map5", "val_map5", "hard_anchors"):
        assert float(histories[1][0][column]) == pytest.approx(float(histories[0][0][column]), rel=1e-4)
    np.testing.assert_array_equal(np.load(two / "hard_negatives.npy"), np.load(one / "hard_negatives.npy"))
    weights = [keras_weights(run / "checkpoints" / "epoch-0001.keras") for run in (one, two)]
    assert max(float(np.abs(a - b).max()) for a, b in zip(*weights)) < 1e-4
    env["KERAS_DISTRIBUTION_JOB_ADDRESSES"] = f"127.0.0.1:{free_port()}"
    run_processes(train_run_script(workspace, "two-hosts", epochs=2, resume=True), env, timeout=1800)
    history = list(csv.DictReader((two / "history.csv").read_text().splitlines()))
    assert [(row["epoch"], row["mined"]) for row in history] == [("1", "1"), ("2", "1")]
    assert (two / "checkpoints" / "epoch-0002.keras").exists()
    assert len(list((two / "logs" / "train").glob("events.out.tfevents.*"))) == 2  # one per session
