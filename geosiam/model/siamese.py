"""The fused Siamese network: image + mask -> 1x1 fusion -> Keras backbone -> head -> descriptor.

Inputs are uint8 (tiles as stored, masks as class ids) so that batches cross to the accelerator
at a quarter of the float32 size; everything else happens in the graph:

- ImageNet preprocessing of the backbone, applied to the RGB channels only, once;
- the mask encoded as one-hot classes (default), one grey channel (id / (classes - 1)) or the
  class colours, in [0, 1], followed by a presence channel: 1 where the mask has a class, 0
  where it has none (:data:`NO_LABELS`, the id of a year without labels). An absent mask is
  all zeros *and* absent: never class 0 (background), whatever the encoding (a grey or colour
  background is zero too), so one network embeds fused and image-only inputs;
- a 1x1 convolution from 3 + mask channels to 3 (mask channels alone for the ``mask_only``
  ablation). Before a pretrained backbone it starts (as the
  prototype) as the average of the preprocessed image and the mask drawn as a grey (or colour)
  image, preprocessed the same way, so that the backbone first sees the kind of input its weights
  know. Before a backbone trained from scratch (``weights = "none"``) nothing is to be kept and
  it starts random: the grey drawing collapses the classes of a one-hot mask onto one level each,
  mixed with the image's brightness (measured in commit 8fbfe9c);
- a ``keras.applications`` backbone without its own preprocessing;
- the prototype's head (Conv3x3 1024 tanh + BN, Conv3x3 512 tanh + BN, Flatten, Dense) where the
  feature map is at least 5x5, Flatten + Dense otherwise (small tiles): the descriptor keeps
  where things are in the tile, which global pooling would discard (measured in commit 8fbfe9c);
- L2 normalisation (float32), so that cosine similarity is an inner product.

The training model applies the same embedding network to both sides of a pair and ends in the
head its loss needs (:mod:`geosiam.model.recipes`): a same-place probability (``|a - b|`` ->
Dense(1, sigmoid), the reference), the Euclidean distance between the descriptors, or both
descriptors side by side, ``[a, b]``.
"""

from __future__ import annotations

import colorsys
import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from geosiam.config import TrainSettings
from geosiam.errors import ModelError, SettingsError
from geosiam.model.augment import DRAWS, ColourJitter, TurnFlip
from geosiam.model.labels import NO_LABELS

PACKAGE = "geosiam"
MIN_INPUT_PX = 32  # the smallest input keras.applications backbones accept
MIN_CONV_HEAD = 5  # two valid 3x3 convolutions need a 5x5 feature map to leave one cell
# MobileNetV3's batch-norm statistics move by 0.1 % a step: after a few hundred steps on aerial
# tiles the inference-time statistics would still be ImageNet's (or 0/1 from scratch), and the
# descriptors used for mining and retrieval would not be those being trained
BN_MOMENTUM = 0.9


@dataclass(frozen=True)
class BackboneSpec:
    """A Keras application and the per-channel affine form of its ImageNet preprocessing.

    ``preprocess(x)[..., j] = x[..., order[j]] * scale[j] + offset[j]`` for x in [0, 255].
    """

    constructor: str
    order: tuple[int, int, int]
    scale: tuple[float, float, float]
    offset: tuple[float, float, float]
    options: tuple[tuple[str, bool], ...] = ()


_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

BACKBONES: dict[str, BackboneSpec] = {
    # keras.applications.resnet50.preprocess_input ("caffe"): RGB -> BGR, minus the ImageNet mean
    "resnet50": BackboneSpec("ResNet50", (2, 1, 0), (1.0, 1.0, 1.0), tuple(-m for m in _CAFFE_MEAN_BGR)),
    # MobileNetV3's own Rescaling layer: [-1, 1]
    "mobilenetv3small": BackboneSpec(
        "MobileNetV3Small", (0, 1, 2), (1 / 127.5,) * 3, (-1.0,) * 3, (("include_preprocessing", False),)
    ),
    # EfficientNetV2-B*'s own layers: /255 then ImageNet mean and standard deviation ("torch")
    "efficientnetv2b0": BackboneSpec(
        "EfficientNetV2B0",
        (0, 1, 2),
        tuple(1 / (255 * s) for s in _TORCH_STD),
        tuple(-m / s for m, s in zip(_TORCH_MEAN, _TORCH_STD)),
        (("include_preprocessing", False),),
    ),
}


@keras.saving.register_keras_serializable(PACKAGE)
class ChannelAffine(layers.Layer):
    """A backbone's ImageNet preprocessing as a per-channel affine map of uint8 RGB."""

    def __init__(self, order, scale, offset, **kwargs):
        super().__init__(**kwargs)
        self.order, self.scale, self.offset = list(order), list(scale), list(offset)

    def call(self, image):
        x = ops.take(ops.cast(image, self.compute_dtype), self.order, axis=-1)
        return x * ops.array(self.scale, self.compute_dtype) + ops.array(self.offset, self.compute_dtype)

    def get_config(self):
        return super().get_config() | {"order": self.order, "scale": self.scale, "offset": self.offset}


@keras.saving.register_keras_serializable(PACKAGE)
class MaskEncoding(layers.Layer):
    """uint8 class ids (N, H, W) -> (N, H, W, C) in [0, 1]: one-hot, grey level or class colour,
    then (``presence``) a channel that is 1 where the mask has a class and 0 at :data:`NO_LABELS`.

    ``presence`` is False only in models saved before absent masks existed.
    """

    def __init__(self, encoding: str, num_classes: int, colours=None, presence: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.encoding, self.num_classes, self.presence = encoding, int(num_classes), bool(presence)
        self.colours = [list(c) for c in colours] if colours is not None else None

    @property
    def channels(self) -> int:
        return mask_channels(self.encoding, self.num_classes) + int(self.presence)

    def call(self, mask):
        ids = ops.cast(mask, "int32")
        known = ops.minimum(ids, self.num_classes - 1)
        if self.encoding == "onehot":
            encoded = ops.one_hot(known, self.num_classes, dtype=self.compute_dtype)
        elif self.encoding == "gray":
            encoded = ops.expand_dims(ops.cast(known, self.compute_dtype) / max(self.num_classes - 1, 1), -1)
        else:
            table = ops.array(np.asarray(self.colours, np.float32) / 255.0, self.compute_dtype)
            encoded = ops.take(table, known, axis=0)
        if not self.presence:
            return encoded
        present = ops.expand_dims(ops.cast(ops.not_equal(ids, NO_LABELS), self.compute_dtype), -1)
        return ops.concatenate([encoded * present, present], axis=-1)

    def get_config(self):
        return super().get_config() | {
            "encoding": self.encoding,
            "num_classes": self.num_classes,
            "colours": self.colours,
            "presence": self.presence,
        }


def mask_channels(encoding: str, num_classes: int) -> int:
    """Channels of an encoded mask, without the presence channel."""
    return {"onehot": num_classes, "gray": 1, "rgb": 3}[encoding]


def model_inputs(settings: TrainSettings) -> tuple[str, ...]:
    """What the embedding network takes: image and mask, the image alone or the mask alone."""
    if settings.image_only:
        return ("image",)
    if settings.mask_only:
        return ("mask",)
    return ("image", "mask")


@keras.saving.register_keras_serializable(PACKAGE)
class L2Normalize(layers.Layer):
    """Rows scaled to unit length, computed in float32 (descriptors for cosine kNN)."""

    def call(self, x):
        return ops.normalize(ops.cast(x, "float32"), axis=-1, epsilon=1e-12)


@keras.saving.register_keras_serializable(PACKAGE)
class PairDistance(layers.Layer):
    """``|a - b|`` per dimension (``abs``) or the Euclidean distance as (N, 1) (``euclidean``),
    in float32 by default whatever the dtype policy (distances of near descriptors need it)."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})
        self.mode = mode

    def call(self, inputs):
        a, b = inputs
        if self.mode == "abs":
            return ops.abs(a - b)
        return ops.sqrt(ops.sum(ops.square(a - b), axis=-1, keepdims=True) + 1e-12)

    def get_config(self):
        return super().get_config() | {"mode": self.mode}


def default_colours(num_classes: int) -> list[tuple[int, int, int]]:
    """Distinct class colours (background black) when no class table gives them."""

    hues = [colorsys.hsv_to_rgb(i / max(num_classes - 1, 1), 0.9, 0.9) for i in range(num_classes - 1)]
    return [(0, 0, 0)] + [tuple(int(255 * v) for v in rgb) for rgb in hues]


def fusion_init(spec: BackboneSpec, encoding: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernel (1, 1, 3 + C + 1, 3) and bias (3,) averaging the image and the preprocessed mask.

    Output channel j = 0.5 * preprocess_j(image) + 0.5 * preprocess_j(255 * mask_j), where
    mask_j is the grey level of the mask (one-hot: class id / (classes - 1)) or, for ``rgb``,
    the colour channel that preprocessing puts at j. Labels themselves are never preprocessed:
    the affine map is folded into the weights. The presence channel (last) starts with weight 0.
    """
    channels = mask_channels(encoding, num_classes) + 1
    kernel = np.zeros((1, 1, 3 + channels, 3), np.float32)
    for j in range(3):
        kernel[0, 0, j, j] = 0.5
        gain = 0.5 * 255.0 * spec.scale[j]
        if encoding == "onehot":
            kernel[0, 0, 3 : 3 + num_classes, j] = gain * np.arange(num_classes) / max(num_classes - 1, 1)
        elif encoding == "gray":
            kernel[0, 0, 3, j] = gain
        else:
            kernel[0, 0, 3 + spec.order[j], j] = gain
    bias = 0.5 * np.asarray(spec.offset, np.float32)
    return kernel, bias


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under a Keras dtype policy (e.g. ``mixed_bfloat16``), then restore it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def validate(settings: TrainSettings) -> None:
    """One-line errors for model settings no network can be built from."""
    if settings.backbone not in BACKBONES:
        raise SettingsError(
            f"unknown backbone '{settings.backbone}': use one of {', '.join(BACKBONES)} (or auto)"
        )


def _backbone(settings: TrainSettings, input_px: int) -> keras.Model:
    spec = BACKBONES[settings.backbone]
    constructor = getattr(keras.applications, spec.constructor)
    weights = settings.weights
    if weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise ModelError(
            f"weights file {weights} does not exist: give a {settings.backbone} "
            "weights file (no top), --weights imagenet or --weights none"
        )
    try:
        with warnings.catch_warnings():  # Keras only warns when a file's layers do not match
            warnings.filterwarnings("error", message=".*Skipping.*", category=UserWarning)
            return constructor(
                include_top=False,
                weights=None if weights == "none" else weights,
                input_shape=(input_px, input_px, 3),
                **dict(spec.options),
            )
    except Exception as exc:  # Keras raises ValueError, OSError or URL errors depending on the cause
        if weights == "imagenet":
            raise ModelError(
                f"cannot get the ImageNet weights of {settings.backbone} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:120]}): connect once to download them, or use "
                "--weights PATH (a local file) or --weights none"
            ) from None
        raise ModelError(
            f"weights file {weights} does not match the {settings.backbone} backbone "
            f"({str(exc).splitlines()[0][:120]}): give the {settings.backbone} weights without "
            "top, or --weights none"
        ) from None


def _head(features, descriptor_dim: int):
    height, width = features.shape[1], features.shape[2]
    x = features
    if height >= MIN_CONV_HEAD and width >= MIN_CONV_HEAD:
        for filters in (1024, 512):
            x = layers.Conv2D(filters, 3, activation="tanh", name=f"head_conv{filters}")(x)
            x = layers.BatchNormalization(name=f"head_bn{filters}")(x)
    x = layers.Flatten(name="head_flatten")(x)
    return layers.Dense(descriptor_dim, name="descriptor")(x)


def build_embedding_model(
    settings: TrainSettings, num_classes: int, input_px: int, colours=None
) -> keras.Model:
    """The embedding network: {image (uint8 HxWx3), mask (uint8 HxW)} (or one of the two, see
    :func:`model_inputs`) -> L2-normalised (D,). A mask of :data:`NO_LABELS` means no labels."""
    validate(settings)
    if input_px < MIN_INPUT_PX:
        raise SettingsError(
            f"input size {input_px} px is too small for a Keras backbone: "
            f"use --input-px {MIN_INPUT_PX} or more"
        )
    spec = BACKBONES[settings.backbone]
    wanted = model_inputs(settings)
    inputs, stacked = {}, []
    if "image" in wanted:
        inputs["image"] = keras.Input((input_px, input_px, 3), dtype="uint8", name="image")
        stacked.append(
            ChannelAffine(spec.order, spec.scale, spec.offset, dtype="float32", name="imagenet_preprocess")(
                inputs["image"]
            )
        )
    fusion = None
    if "mask" in wanted:
        inputs["mask"] = keras.Input((input_px, input_px), dtype="uint8", name="mask")
        colours = colours if colours is not None else default_colours(num_classes)
        stacked.append(
            MaskEncoding(
                settings.mask_encoding,
                num_classes,
                colours,
                presence=True,
                dtype="float32",
                name="mask_encoding",
            )(inputs["mask"])
        )
        fusion = layers.Conv2D(3, 1, name="fusion")
    x = layers.Concatenate(dtype="float32", name="stack")(stacked) if len(stacked) > 1 else stacked[0]
    if fusion is not None:
        x = fusion(x)
    backbone = _backbone(settings, input_px)
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = min(layer.momentum, BN_MOMENTUM)
    x = backbone(x)
    descriptor = L2Normalize(dtype="float32", name="l2_normalize")(_head(x, settings.descriptor_dim))
    model = keras.Model(inputs, descriptor, name="embedding")
    if fusion is not None and "image" in wanted and settings.weights != "none":
        fusion.set_weights(list(fusion_init(spec, settings.mask_encoding, num_classes)))
    return model


def same_place_head(a, b):
    """The probability that two descriptors show the same place: ``|a - b|`` -> Dense(1, sigmoid)."""
    distance = PairDistance("abs", name="abs_difference")([a, b])
    return layers.Dense(1, activation="sigmoid", dtype="float32", name="same_place")(distance)


def distance_head(a, b):
    """The Euclidean distance between two descriptors."""
    return PairDistance("euclidean", name="distance")([a, b])


def descriptors_head(a, b):
    """Both descriptors side by side, ``[a, b]``, for losses that compare every row with every other."""
    return layers.Concatenate(dtype="float32", name="pair_descriptors")([a, b])


def build_siamese_model(embedding: keras.Model, head, augment: bool = False) -> keras.Model:
    """The training model: the shared embedding applied to an anchor and another tile, ending in
    ``head`` (one of the heads above, as the loss's recipe names it).

    With ``augment``, each side also takes ``<side>_augment``, (N, 7) draws applied inside the
    step, in training only (:mod:`geosiam.model.augment`): the couple's turn and flip to image
    and mask, then colour jitter and greyscale to the image, before the embedding.
    """
    turn = TurnFlip(name="turn_flip") if augment else None
    colour = ColourJitter(name="colour_jitter") if augment else None
    sides, inputs = {}, {}
    for side in ("anchor", "other"):
        named = {
            name: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=f"{side}_{name}")
            for name, tensor in embedding.input.items()
        }
        inputs |= {f"{side}_{name}": tensor for name, tensor in named.items()}
        if augment:
            draws = keras.Input((DRAWS,), dtype="float32", name=f"{side}_augment")
            inputs[f"{side}_augment"] = draws
            named = {name: turn(tensor, draws) for name, tensor in named.items()}
            if "image" in named:
                named["image"] = colour(named["image"], draws)
        sides[side] = named
    output = head(embedding(sides["anchor"]), embedding(sides["other"]))
    return keras.Model(inputs, output, name="siamese")


def input_names(model: keras.Model) -> set[str]:
    """The names of a model's inputs."""
    return {tensor.name for tensor in keras.tree.flatten(model.inputs)}


def embedding_of(siamese: keras.Model) -> keras.Model:
    """The shared embedding network inside a training model."""
    return siamese.get_layer("embedding")
