"""What "auto" training settings become on a CPU and on a GPU (the device kind set by the test)."""

import logging
import re

import keras
import pytest

from geosiam.config import TrainSettings
from geosiam.errors import SettingsError
from geosiam.model import accelerator


def test_the_device_kind_is_what_keras_computes_on():
    assert accelerator.device_kind() in {"cpu", "gpu", "tpu"} and accelerator.device_count() >= 1


def test_on_a_cpu_auto_is_the_small_backbone_in_float32_with_a_notice(monkeypatch, caplog):
    monkeypatch.setattr(accelerator, "device_kind", lambda: "cpu")
    with caplog.at_level(logging.WARNING, logger="geosiam.model.accelerator"):
        train = accelerator.resolve(TrainSettings(backbone="auto"), tile_px=64)
    assert (train.backbone, train.input_px, train.mixed_precision, train.jit_compile) == (
        "mobilenetv3small",
        64,
        False,
        False,  # TensorFlow on a CPU gains nothing from XLA
    )
    assert "no GPU found: training mobilenetv3small instead of resnet50" in caplog.text
    assert accelerator.mixed_policy() == "mixed_bfloat16"
    with accelerator.distribution_scope() as replicas:  # one CPU: one device, no distribution
        assert replicas == accelerator.replicas() == 1


def test_what_the_user_set_is_kept():
    given = TrainSettings(backbone="resnet50", input_px=96, mixed_precision=True, jit_compile=True)
    assert accelerator.resolve(given, tile_px=64) == given
    assert accelerator.resolve(TrainSettings(), tile_px=None).input_px == 256


@pytest.mark.parametrize(("capability", "policy"), [((7, 5), "mixed_float16"), ((8, 0), "mixed_bfloat16")])
def test_on_a_gpu_auto_is_the_reference_backbone_mixed_precision_and_xla(monkeypatch, capability, policy):
    monkeypatch.setattr(accelerator, "device_kind", lambda: "gpu")
    monkeypatch.setattr(accelerator, "_gpu_capability", lambda: capability)
    train = accelerator.resolve(TrainSettings(backbone="auto"), tile_px=256)
    assert (train.backbone, train.mixed_precision, train.jit_compile) == ("resnet50", True, True)
    assert accelerator.mixed_policy() == policy  # bfloat16 only where the GPU computes in it


CLUSTER = {
    "KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234",
    "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
    "KERAS_DISTRIBUTION_PROCESS_ID": "1",
}


def test_one_host_has_no_cluster_settings():
    assert accelerator.cluster_settings({}) is None
    assert accelerator.cluster_settings({"KERAS_DISTRIBUTION_PROCESS_ID": " "}) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"KERAS_DISTRIBUTION_NUM_PROCESSES": ""},
            "needs KERAS_DISTRIBUTION_NUM_PROCESSES too: set all three",
        ),
        ({"KERAS_DISTRIBUTION_PROCESS_ID": "2"}, "each process's id one of 0 .. that number - 1"),
        ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "two"}, "the number of processes is a whole number"),
        ({"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1"}, "is not host:port of the coordinator"),
        ({"KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1,b:2,c:3"}, "or of each of the 2 processes"),
    ],
)
def test_incomplete_or_inconsistent_cluster_settings_are_one_line_errors(changes, message):
    with pytest.raises(SettingsError, match=re.escape(message)) as error:
        accelerator.cluster_settings(CLUSTER | changes)
    assert "\n" not in str(error.value)


def test_complete_cluster_settings_are_read_and_need_jax(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert accelerator.cluster_settings(CLUSTER | {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1,b:2"}) == (
        accelerator.Cluster("a:1,b:2", 2, 1)
    )
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    with pytest.raises(SettingsError, match="multi-host training runs on JAX, not tensorflow"):
        accelerator.cluster_settings(CLUSTER)


@pytest.mark.parametrize(("rows", "replicas"), [(6, 4), (3, 2)])
def test_a_batch_that_does_not_split_over_the_devices_is_a_one_line_error(rows, replicas):
    with pytest.raises(
        SettingsError, match=f"batch of {rows} tiles does not split evenly over {replicas} devices"
    ):
        accelerator.check_batch_split(rows, replicas, in_batch=True)
    accelerator.check_batch_split(rows * replicas, replicas, in_batch=False)
