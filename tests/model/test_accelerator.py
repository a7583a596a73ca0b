"""What "auto" training settings become on a CPU and on a GPU (the device kind set by the test)."""

import contextlib
import logging

import pytest

from geosiam.config import TrainSettings
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
    assert isinstance(accelerator.distribution_scope(), contextlib.nullcontext)


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
