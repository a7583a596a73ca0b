import keras
import numpy as np
import pytest

from geosiam.config import TrainSettings
from geosiam.errors import ModelError, SettingsError
from geosiam.model.recipes import recipe_of
from geosiam.model.siamese import (
    BACKBONES,
    NO_LABELS,
    ChannelAffine,
    MaskEncoding,
    build_embedding_model,
    build_siamese_model,
    default_colours,
    dtype_policy,
    fusion_init,
)

SMALL = TrainSettings(backbone="mobilenetv3small", weights="none", descriptor_dim=16)
RNG = np.random.default_rng(0)


def _preprocess(spec, rgb):
    return rgb.astype(np.float32)[..., list(spec.order)] * np.float32(spec.scale) + np.float32(spec.offset)


def test_resnet_preprocessing_is_keras_preprocess_input():
    image = RNG.integers(0, 256, (2, 5, 5, 3), dtype=np.uint8)
    spec = BACKBONES["resnet50"]
    ours = np.asarray(ChannelAffine(spec.order, spec.scale, spec.offset)(image))
    expected = keras.applications.resnet50.preprocess_input(image.astype(np.float32))
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_efficientnet_and_mobilenet_preprocessing_match_their_own_layers():
    image = RNG.integers(0, 256, (1, 4, 4, 3), dtype=np.uint8).astype(np.float32)
    effnet = (image / 255 - [0.485, 0.456, 0.406]) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(_preprocess(BACKBONES["efficientnetv2b0"], image), effnet, atol=1e-4)
    np.testing.assert_allclose(
        _preprocess(BACKBONES["mobilenetv3small"], image), image / 127.5 - 1, atol=1e-5
    )


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A MobileNetV3Small weights file (no top) standing for ImageNet's, which needs a download."""
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, include_preprocessing=False
    )
    path = tmp_path_factory.mktemp("weights") / "mobilenetv3small.weights.h5"
    backbone.save_weights(path)
    return str(path)


@pytest.mark.parametrize("encoding", ["onehot", "gray", "rgb"])
def test_before_a_pretrained_backbone_fusion_starts_as_the_average_of_image_and_mask(encoding, pretrained):
    settings = TrainSettings(backbone="mobilenetv3small", weights=pretrained, mask_encoding=encoding)
    model = build_embedding_model(settings, 9, 32)
    fused = keras.Model(model.input, model.get_layer("fusion").output)
    image = RNG.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    mask = RNG.integers(0, 9, (2, 32, 32), dtype=np.uint8)
    spec = BACKBONES["mobilenetv3small"]
    if encoding == "rgb":
        drawn = np.asarray(default_colours(9), np.float32)[mask]
    else:
        drawn = np.repeat((255.0 * mask / 8)[..., None], 3, axis=-1)
    expected = 0.5 * _preprocess(spec, image) + 0.5 * _preprocess(spec, drawn)
    np.testing.assert_allclose(np.asarray(fused({"image": image, "mask": mask})), expected, atol=1e-4)


def test_descriptors_are_unit_length_and_image_only_takes_no_mask():
    fused = build_embedding_model(SMALL, 9, 32)
    kernel, _ = fusion_init(BACKBONES["mobilenetv3small"], "onehot", 9)
    assert not np.allclose(fused.get_layer("fusion").get_weights()[0], kernel)  # from scratch: random
    alone = build_embedding_model(
        TrainSettings(backbone="mobilenetv3small", weights="none", descriptor_dim=16, image_only=True), 9, 32
    )
    assert set(fused.input) == {"image", "mask"} and set(alone.input) == {"image"}
    image = RNG.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    out = np.asarray(alone({"image": image}))
    assert out.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    names = [layer.name for layer in fused.layers]
    assert "head_flatten" in names and "head_conv1024" not in names  # 1x1 feature map: no conv head
    norms = [
        layer
        for layer in fused.get_layer("MobileNetV3Small").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms and all(layer.momentum <= 0.9 for layer in norms)  # statistics follow training


@pytest.mark.parametrize("encoding", ["onehot", "gray", "rgb"])
def test_an_absent_mask_is_all_zero_with_presence_0_never_background(encoding):
    layer = MaskEncoding(encoding, 4, default_colours(4), presence=True)
    mask = np.array([[[0, NO_LABELS], [3, 0]]], np.uint8)
    encoded = np.asarray(layer(mask))
    assert encoded.shape == (1, 2, 2, layer.channels)
    np.testing.assert_array_equal(encoded[0, 0, 1], 0.0)  # no labels: nothing, and absent
    np.testing.assert_array_equal(encoded[..., -1], [[[1, 0], [1, 1]]])
    assert not np.array_equal(encoded[0, 0, 0], encoded[0, 0, 1])  # background differs from absent


def test_a_model_saved_before_absent_masks_keeps_its_encoding():
    old = MaskEncoding.from_config({"encoding": "onehot", "num_classes": 4, "colours": None})
    assert old.channels == 4 and np.asarray(old(np.zeros((1, 2, 2), np.uint8))).shape == (1, 2, 2, 4)


def test_mask_only_takes_the_mask_alone_and_ablations_exclude_each_other():
    mask_only = build_embedding_model(
        TrainSettings(backbone="mobilenetv3small", weights="none", descriptor_dim=8, mask_only=True), 9, 32
    )
    assert set(mask_only.input) == {"mask"}
    with pytest.raises(SettingsError, match="exclude each other"):
        build_embedding_model(
            TrainSettings(backbone="mobilenetv3small", weights="none", image_only=True, mask_only=True), 9, 32
        )


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_mask_dropout_outside_0_1_is_refused(value):
    with pytest.raises(SettingsError, match="--mask-dropout is a probability"):
        build_embedding_model(
            TrainSettings(backbone="mobilenetv3small", weights="none", mask_dropout=value), 9, 32
        )


def test_the_reference_conv_head_where_the_feature_map_allows():
    model = build_embedding_model(TrainSettings(backbone="resnet50", weights="none"), 9, 160)
    names = [layer.name for layer in model.layers]
    assert {"head_conv1024", "head_conv512", "head_flatten"} <= set(names)
    assert model.output.shape[-1] == 128


def test_siamese_output_per_loss():
    embedding = build_embedding_model(SMALL, 9, 32)  # one network shared by the three models
    batch = {
        f"{side}_image": RNG.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8) for side in ("anchor", "other")
    }
    batch |= {f"{side}_mask": RNG.integers(0, 9, (2, 32, 32), dtype=np.uint8) for side in ("anchor", "other")}
    a = np.asarray(embedding({"image": batch["anchor_image"], "mask": batch["anchor_mask"]}))
    b = np.asarray(embedding({"image": batch["other_image"], "mask": batch["other_mask"]}))
    outputs = {}
    for loss, name in (("bce", "same_place"), ("triplet", "distance"), ("infonce", "pair_descriptors")):
        siamese = build_siamese_model(embedding, recipe_of(loss).head)
        assert set(siamese.input) == {"anchor_image", "anchor_mask", "other_image", "other_mask"}
        assert siamese.layers[-1].name == name
        outputs[loss] = np.asarray(siamese(batch))
    assert outputs["bce"].shape == (2, 1) and ((outputs["bce"] >= 0) & (outputs["bce"] <= 1)).all()
    np.testing.assert_allclose(outputs["triplet"][:, 0], np.linalg.norm(a - b, axis=1), atol=1e-4)
    np.testing.assert_allclose(outputs["infonce"], np.concatenate([a, b], axis=1), atol=1e-5)
    jittered = build_siamese_model(embedding, recipe_of("infonce").head, augment=True)
    assert set(jittered.input) == set(batch) | {"anchor_augment", "other_augment"}
    assert set(embedding.input) == {"image", "mask"}  # the saved network takes no draws
    turned = np.tile(np.float32([1.2, 20, 1, 1, 1, 0, 3]), (2, 1))  # contrast, brightness, 3 turns
    draws = {f"{side}_augment": turned for side in ("anchor", "other")}
    inference = np.asarray(jittered(batch | draws))  # augmentation off
    np.testing.assert_allclose(inference, outputs["infonce"], atol=1e-5)
    plain = np.asarray(siamese(batch, training=True))  # the infonce model of the loop above
    identity = {name: np.tile(np.float32([1, 0, 1, 1, 1, 0, 0]), (2, 1)) for name in draws}
    np.testing.assert_allclose(np.asarray(jittered(batch | identity, training=True)), plain, atol=1e-5)
    assert not np.allclose(np.asarray(jittered(batch | draws, training=True)), plain, atol=1e-3)


@pytest.mark.parametrize(("loss", "layer"), [("bce", "abs_difference"), ("triplet", "distance")])
def test_distances_stay_float32_under_mixed_precision(loss, layer):
    with dtype_policy("mixed_bfloat16"):
        siamese = build_siamese_model(build_embedding_model(SMALL, 9, 32), recipe_of(loss).head)
    distance = siamese.get_layer(layer)
    assert siamese.get_layer("embedding").get_layer("fusion").compute_dtype == "bfloat16"  # the policy holds
    assert distance.compute_dtype == "float32" and distance.output.dtype == "float32"


def test_weights_that_do_not_exist_or_do_not_match_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        build_embedding_model(
            TrainSettings(backbone="mobilenetv3small", weights=str(tmp_path / "no.h5")), 9, 32
        )
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(ModelError, match="does not match the mobilenetv3small backbone"):
        build_embedding_model(TrainSettings(backbone="mobilenetv3small", weights=str(path)), 9, 32)


@pytest.mark.parametrize(
    ("field", "value"),
    [("backbone", "vgg"), ("loss", "hinge"), ("mask_encoding", "bits"), ("descriptor_dim", 0)],
)
def test_bad_settings_are_one_line_errors(field, value):
    with pytest.raises(SettingsError):
        build_embedding_model(
            TrainSettings(**({"backbone": "mobilenetv3small", "weights": "none"} | {field: value})), 9, 32
        )


def test_inputs_smaller_than_backbones_accept_are_refused():
    with pytest.raises(SettingsError, match="too small"):
        build_embedding_model(SMALL, 9, 16)


def test_the_command_lines_backbone_choices_are_the_models():
    from geosiam.config import BACKBONE_NAMES
    from geosiam.model.siamese import BACKBONES

    assert tuple(BACKBONES) == BACKBONE_NAMES
