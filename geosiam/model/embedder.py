"""Descriptors from a trained (or untrained) network: the API of ``geosiam embed`` and ``eval``.

An :class:`Embedder` takes uint8 tiles and masks as numpy arrays or memory maps (a mask may be
absent: a fused network then embeds the tile from its image alone), resizes them to the
network's input when needed (images by area/bilinear, masks by nearest), and hands them to
``model.predict`` as they are: uint8 arrays, sliced into batches by Keras itself, so that
embedding runs at the speed of ``model.predict`` on in-memory arrays (benchmarks/embedding.py);
on several hosts, :func:`geosiam.model.accelerator.predict` lays each batch over every host's
devices instead, and every host gets all the descriptors.
Every batch has one shape (the last one is padded by repeating its last tile, and the padding
dropped), so that XLA compiles once; tiles go to ``model.predict`` about 64 MiB at a time (Keras
copies a call's inputs whole). It returns float32 L2-normalised descriptors. Its
``identity`` names the weights, so that descriptors of different models are never mixed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from geosiam import atomic
from geosiam.config import TrainSettings, fingerprint, to_dict
from geosiam.errors import ModelError
from geosiam.model.accelerator import portable, predict, resolve
from geosiam.model.cache import check_class_ids, chunk_rows
from geosiam.model.data import resize_images, resize_masks
from geosiam.model.labels import NO_LABELS
from geosiam.model.siamese import build_embedding_model
from geosiam.ranking import l2_normalise
from geosiam.runfolder import RunFolder


@dataclass
class Embedder:
    """A network that turns tiles (and masks) into descriptors."""

    model: keras.Model
    settings: TrainSettings
    num_classes: int
    input_px: int
    image_only: bool
    identity: str

    @property
    def descriptor_dim(self) -> int:
        return int(self.model.output.shape[-1])

    @property
    def mask_only(self) -> bool:
        return self.settings.mask_only

    @property
    def uses_masks(self) -> bool:
        """Whether masks change this model's descriptors (fused and mask-only models)."""
        return not self.image_only

    def embed(self, images: np.ndarray, masks: np.ndarray | None, batch_size: int = 64) -> np.ndarray:
        """(N, H, W, 3) uint8 tiles and (N, H, W) uint8 class ids -> (N, D) float32, unit rows.

        ``masks`` None, or rows of :data:`NO_LABELS`, are tiles without labels: a fused model
        embeds them from the image alone; a mask-only model cannot.
        """
        images = np.asarray(images) if not isinstance(images, np.ndarray) else images
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ModelError(
                f"tiles must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}: "
                "read them with geosiam.tiling.read.read_many"
            )
        if self.image_only:
            masks = None
        elif masks is None:
            masks = np.full(images.shape[:3], NO_LABELS, np.uint8)
        elif masks.shape != images.shape[:3] or masks.dtype != np.uint8:
            raise ModelError(
                f"masks must be (N, H, W) uint8 matching the tiles {images.shape[:3]}, "
                f"got {masks.shape} {masks.dtype}: give one mask per tile"
            )
        if len(images) == 0:
            return np.zeros((0, self.descriptor_dim), np.float32)
        if masks is not None:
            check_class_ids(masks, self.num_classes)
            if self.mask_only and (masks == NO_LABELS).all(axis=(1, 2)).any():
                raise ModelError(
                    "this mask-only model was given tiles without labels: it sees nothing else; "
                    "embed tiles that have masks, or use a fused or image-only run"
                )
        inputs = {"image": images} if not self.mask_only else {}
        if masks is not None:
            inputs["mask"] = masks
        step = chunk_rows(self.input_px, batch_size)  # Keras copies a whole call's inputs
        parts = []
        for start in range(0, len(images), step):
            chunk = {
                name: fit_to_input(array[start : start + step], self.input_px)
                for name, array in inputs.items()
            }
            parts.append(self._predict(chunk, min(step, len(images) - start), batch_size))
        return l2_normalise(np.concatenate(parts))

    def _predict(self, inputs: dict[str, np.ndarray], rows: int, batch_size: int) -> np.ndarray:
        """The model's output for ``rows`` rows, in full batches: the rows that fill whole batches
        as they are (no copy), the rest padded to one more batch."""
        whole = rows - rows % batch_size
        parts = []
        if whole:
            head = {name: array[:whole] for name, array in inputs.items()}
            parts.append(predict(self.model, head, batch_size))
        if whole < rows:
            pad = batch_size - (rows - whole)
            tail = {
                name: np.concatenate([array[whole:], np.repeat(array[-1:], pad, axis=0)])
                for name, array in inputs.items()
            }
            parts.append(predict(self.model, tail, batch_size)[: rows - whole])
        return np.concatenate(parts)


def fit_to_input(array: np.ndarray, px: int, rows: int = 256) -> np.ndarray:
    """Tiles (N, H, W, 3) or masks (N, H, W) at the model's input size: unchanged when they are
    (a memory map stays one), else resized ``rows`` at a time (bounded float memory)."""
    if array.shape[1:3] == (px, px):
        return array
    resize = resize_images if array.ndim == 4 else resize_masks
    return np.concatenate([resize(np.asarray(array[i : i + rows]), px) for i in range(0, len(array), rows)])


def save_embedding(model: keras.Model, settings: TrainSettings, num_classes: int, run_dir: Path) -> None:
    """Write the embedding network of a run (``model.keras`` and ``model.json``), atomically."""
    run = RunFolder(Path(run_dir))
    with atomic.atomic_path(run.model_path, suffix=".keras") as tmp, portable(model):
        model.save(tmp)
    meta = {
        "num_classes": num_classes,
        "input_px": settings.input_px,
        "image_only": settings.image_only,
        "descriptor_dim": settings.descriptor_dim,
    }
    atomic.write_text(run.model_meta_path, json.dumps(meta, indent=2))


def load_embedder(run_dir: Path) -> Embedder:
    """The best model of a run."""
    run = RunFolder(Path(run_dir))
    path = run.model_path
    if not path.exists() or not run.model_meta_path.exists():
        raise ModelError(
            f"no trained model in {run_dir}: run 'geosiam train' (or pick a run that "
            "finished its first validation)"
        )
    settings = run.load_settings().train
    meta = json.loads(run.model_meta_path.read_text(encoding="utf-8"))
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras reports corrupt archives as ValueError, OSError or KeyError
        raise ModelError(
            f"cannot load {path} ({type(exc).__name__}: {str(exc)[:120]}): "
            "re-run 'geosiam train --resume' or train again"
        ) from None
    return Embedder(
        model,
        settings,
        meta["num_classes"],
        meta["input_px"],
        meta["image_only"],
        identity=run_identity(run.root),
    )


def run_identity(run_dir: Path) -> str:
    """The identity of a run's best model (its settings and weights), without loading it."""
    run = RunFolder(Path(run_dir))
    digest = hashlib.sha256(run.model_path.read_bytes()).hexdigest()[:16]
    settings = run.load_settings().train
    return f"{fingerprint(to_dict(settings))}-{digest}"


def untrained_embedder(settings: TrainSettings, num_classes: int, input_px: int, colours=None) -> Embedder:
    """The same architecture with its initial weights (seeded): the "untrained network" baseline.

    The backbone starts from ``settings.weights`` (ImageNet by default), the rest is random.
    """
    settings = resolve(dataclasses.replace(settings, input_px=input_px), input_px)
    keras.utils.set_random_seed(settings.seed)
    model = build_embedding_model(settings, num_classes, input_px, colours)
    identity = "untrained-" + fingerprint(
        {
            "train": to_dict(settings),
            "classes": num_classes,
            "input_px": input_px,
            "backend": keras.backend.backend(),
        }
    )
    return Embedder(model, settings, num_classes, input_px, settings.image_only, identity)
