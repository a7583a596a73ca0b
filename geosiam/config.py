"""Typed settings, their defaults in one place, and TOML load/save.

Resolution order: defaults < ``geosiam.toml`` < command-line options. A workspace's
``geosiam.toml`` holds the resolved settings (every value explicit) so that a later stage, or a
colleague, sees exactly what produced the files; each run folder gets its own copy.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import tomllib

from geosiam import atomic
from geosiam.errors import SettingsError

FIRST_YEAR = 1950
LAST_YEAR = 2100

# The version of geosiam.toml's layout. Files without a ``version`` key are version 1; a file of an
# older version is migrated when read (MIGRATIONS), one of a newer one is refused.
SETTINGS_VERSION = 2

# The fixed sets of values some settings take, typed once: the command line offers them as choices
# and ``Checked`` refuses anything else wherever settings come from (model/siamese.py holds each
# backbone's specification).
AUTO = "auto"
Backbone = Literal["auto", "resnet50", "mobilenetv3small", "efficientnetv2b0"]
Loss = Literal["bce", "contrastive", "triplet", "focal", "infonce"]
MaskEncoding = Literal["onehot", "gray", "rgb"]
LrSchedule = Literal["constant", "cosine"]
RunLabels = Literal["both", "newer", "none"]  # the years' masks a run reads, most labels first
LabelMode = Literal["auto", "both", "newer", "none"]
SplitMethod = Literal["blocks", "dept"]
IndexKind = Literal["auto", "flat", "ivf", "hnsw", "ivfpq"]  # FAISS indexes of ``geosiam index build``

BACKBONE_NAMES = tuple(name for name in typing.get_args(Backbone) if name != AUTO)
LOSSES = typing.get_args(Loss)
MASK_ENCODINGS = typing.get_args(MaskEncoding)
LR_SCHEDULES = typing.get_args(LrSchedule)
RUN_LABELS = typing.get_args(RunLabels)
LABEL_MODES = typing.get_args(LabelMode)
INDEX_KINDS = typing.get_args(IndexKind)
SPLITS = ("train", "val", "test")


@functools.cache
def _choice_fields(cls: type) -> dict[str, tuple]:
    """The ``Literal`` fields of a settings class and their values, resolved once per class."""
    hints = typing.get_type_hints(cls)
    return {name: typing.get_args(h) for name, h in hints.items() if typing.get_origin(h) is Literal}


class Checked:
    """Settings that refuse impossible values when made, from TOML, the command line or code.

    Each ``Literal`` field takes one of its values (``""`` where the field allows it); ``check``
    adds the ranges. Errors name the setting and its command-line option.
    """

    options: ClassVar[dict[str, str]] = {}  # field -> its command-line option, for messages

    def __post_init__(self) -> None:
        for name, choices in _choice_fields(type(self)).items():
            value = getattr(self, name)
            if value not in choices:
                allowed = ", ".join(repr(v) if v == "" else v for v in choices)
                raise SettingsError(f"unknown {self.name_of(name)} {value!r}: use one of {allowed}")
        self.check()

    def check(self) -> None:
        """Range checks beyond the choices; none by default."""

    def name_of(self, field_name: str) -> str:
        """How a message names a field: its option, else its TOML key."""
        return self.options.get(field_name) or f"setting '{field_name}'"

    def at_least(self, field_name: str, low: float) -> None:
        value = getattr(self, field_name)
        if not value >= low:
            raise SettingsError(f"{self.name_of(field_name)} must be at least {low}, got {value}")

    def probability(self, field_name: str) -> None:
        value = getattr(self, field_name)
        if not 0.0 <= value <= 1.0:
            name = self.name_of(field_name)
            raise SettingsError(f"{name} is a probability, got {value}: give a value from 0 to 1")

    def positive(self, field_name: str, hint: str) -> None:
        value = getattr(self, field_name)
        if not (value > 0 and math.isfinite(value)):
            name = self.name_of(field_name)
            raise SettingsError(f"{name} must be a positive number, got {value}: try {hint}")


# the grid of real data when the user sets none: the prototype's 1000 m tiles of 256 px, Lambert-93
DEFAULT_CRS = "EPSG:2154"
DEFAULT_TILE_SIZE_M = 1000.0
DEFAULT_TILE_PX = 256


@dataclass
class GridSettings:
    """One grid for every year: tile ids come from the grid position alone.

    ``None`` means "the area's default" (1000 m / 256 px for real data as the prototype, smaller
    for the built-in sample); :func:`geosiam.tiling.grid.grid_from_settings` resolves it.
    """

    crs: str | None = None
    origin_x: float = 0.0
    origin_y: float = 0.0
    tile_size_m: float | None = None
    tile_px: int | None = None


@dataclass
class AreaSettings:
    """Where to work: the built-in sample, IGN départements, a bbox or an AOI file."""

    sample: bool = False
    depts: list[str] = field(default_factory=list)
    bbox: list[float] = field(default_factory=list)  # xmin ymin xmax ymax, grid CRS
    aoi: str = ""


@dataclass
class HttpSettings:
    """How geosiam talks to IGN's services: pace, patience and retries.

    IGN answers 429 well below its documented 10 requests/s, hence one request per second by
    default. These never change what is downloaded, so they are not part of a workspace's identity.
    """

    request_interval_s: float = 1.0  # minimum time between two requests
    timeout_s: float = 60.0  # connect and read timeout of one request
    retries: int = 8  # attempts after a failure that made no progress (429, 5xx, timeouts, drops)
    backoff_s: float = 2.0  # first wait before a retry; doubles each time
    backoff_max_s: float = 120.0  # longest wait between retries (a Retry-After header wins)


@dataclass
class SourceSettings:
    """Where each year's rasters and vectors come from (local paths or IGN services)."""

    ortho: dict[str, str] = field(default_factory=dict)  # year -> file, folder or glob
    topo: dict[str, str] = field(default_factory=dict)  # year -> file, folder or glob
    ign_url: str = "https://data.geopf.fr"
    resolution: str = ""  # BD ORTHO resolution token ("0M50", "0M20"); "" = the coarsest
    topo_edition: dict[str, str] = field(default_factory=dict)  # year -> YYYY-MM-DD
    http: HttpSettings = field(default_factory=HttpSettings)


@dataclass
class DiskSettings(Checked):
    """How much of the download cache ``prepare`` keeps (``--no-keep-downloads``, ``--max-disk``).

    They change what stays on disk, never what is prepared, so they are not part of a
    workspace's identity. ``max_gb`` 0 means no budget.
    """

    keep_downloads: bool = True  # False: a finished département's archives and dalles are deleted
    max_gb: float = 0.0  # the cache (downloads, extracted dalles, stage records) stays under this
    # seconds a download or an extraction that would pass max_gb waits, polling the cache, for
    # room freed by another process (or by hand) before it is refused; 0 refuses at once
    wait_s: float = 60.0

    options: ClassVar[dict[str, str]] = {"max_gb": "--max-disk"}

    def check(self) -> None:
        if not self.max_gb >= 0:
            raise SettingsError(f"--max-disk must be a number of GB >= 0 (0: no budget), got {self.max_gb}")
        self.at_least("wait_s", 0)


@dataclass
class PrepareSettings(Checked):
    """How tiles and masks are made."""

    classes: str = ""  # class table TOML; "" = the built-in BD TOPO v3 table
    min_valid_fraction: float = 0.9  # tiles with less valid (non-nodata) area are dropped
    bands: list[int] = field(default_factory=lambda: [1, 2, 3])  # source bands read as R, G, B
    # decode the coarsest JPEG2000 level / overview whose pixels are at most 1 + this times the
    # tile pixel, then enlarge it to the grid: 0.05 lets 0M50 dalles serve 3.906 m tiles from
    # their 1/8 level (4 m), faster and as sharp (benchmarks/results/tiling_dalles.md); 0 never
    # decodes coarser than the tiles
    oversampling: float = 0.05

    def check(self) -> None:
        if not 0.0 <= self.oversampling <= 1.0:
            raise SettingsError(
                f"prepare.oversampling must be between 0 and 1, got {self.oversampling}: "
                "0.05 reads 0M50 dalles at their 1/8 level for 256 px tiles of 1000 m, 0 never oversamples"
            )


DEFAULT_MAX_LABEL_GAP_YEARS = 3.0


@dataclass
class LabelSettings(Checked):
    """Which years' masks come from which vectors (``prepare --labels``, ``--max-label-gap``).

    ``mode`` is what was asked (auto | both | newer | none); ``resolved`` is what ``prepare``
    made of it (both | newer | none; "" in workspaces prepared before labels were resolved, which
    means both); ``years`` records, per year, the labels used: ``source`` (edition date or file,
    "" for none), ``gap_years`` (signed years from the image to its labels; nan for none),
    ``version`` (BD TOPO data model "3", "2", or "" when unknown) and ``reason`` (why none).
    """

    mode: LabelMode = "auto"
    max_gap_years: float = DEFAULT_MAX_LABEL_GAP_YEARS
    resolved: Literal["", "both", "newer", "none"] = ""
    years: dict[str, dict] = field(default_factory=dict)

    options: ClassVar[dict[str, str]] = {"mode": "--labels", "max_gap_years": "--max-label-gap"}

    def check(self) -> None:
        if not self.max_gap_years >= 0:
            raise SettingsError(f"--max-label-gap must be a number of years >= 0, got {self.max_gap_years}")

    @property
    def effective(self) -> str:
        """The resolved mode, "both" for a workspace prepared before labels were resolved."""
        return self.resolved or "both"


@dataclass
class SplitSettings(Checked):
    """Spatially blocked train/val/test splits, so neighbours never straddle train and test."""

    method: SplitMethod = "blocks"
    block_size_m: float | None = None  # None = 5 tiles
    fractions: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    dept_splits: dict[str, list[str]] = field(default_factory=dict)  # split -> départements
    min_iou: float = 0.5
    seed: int = 0

    options: ClassVar[dict[str, str]] = {"method": "split method"}

    def check(self) -> None:
        fractions = self.fractions
        if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
            raise SettingsError(
                f"split fractions must be three non-negative numbers (train val test), got {fractions}"
            )
        if not 0.0 < self.min_iou <= 1.0:
            raise SettingsError(f"split.min_iou must be in (0, 1], got {self.min_iou}: try 0.5")


@dataclass
class TrainSettings(Checked):
    """The Siamese model and its training (``geosiam train``).

    ``"auto"`` and ``None`` values are resolved when a run starts (backbone: resnet50 on an
    accelerator, mobilenetv3small on CPU; mixed precision and XLA: on where a GPU is present;
    input_px 0: the grid's tile size); the run folder keeps the resolved values.
    """

    backbone: Backbone = "auto"
    weights: str = "imagenet"  # "imagenet", "none" or a backbone weights file
    descriptor_dim: int = 128
    loss: Loss = "bce"
    margin: float = 0.5  # distance margin of the contrastive and triplet losses
    temperature: float = 0.1  # softmax temperature of the infonce loss
    mask_encoding: MaskEncoding = "onehot"
    image_only: bool = False  # the ablation without masks
    mask_only: bool = False  # the ablation without images
    mask_dropout: float = 0.0  # share of training pairs whose mask is removed on one side
    labels: Literal["", "both", "newer", "none"] = ""  # the years' masks the run uses; "" = the workspace's
    input_px: int = 0  # 0 = the grid's tile_px
    epochs: int = 100
    anchors_per_batch: int = 6  # 6 anchors -> 24 pairs, as the prototype; infonce: distinct places
    learning_rate: float = 1e-4
    lr_schedule: LrSchedule = "constant"  # cosine decays to 0 over the epochs
    mine_every: int = 5
    hard_negatives: int = 4  # hardest wrong neighbours kept per hard anchor
    augment: bool = True
    greyscale: float = 0.2  # share of tiles that augmentation turns grey (grey/colour years)
    mixed_precision: bool | None = None  # None = on when a GPU is present
    jit_compile: bool | None = None  # None = on when a GPU is present
    workers: int = 0  # threads assembling batches; 0 = auto (measured when a run starts)
    seed: int = 0

    options: ClassVar[dict[str, str]] = {
        "backbone": "backbone",
        "loss": "loss",
        "mask_encoding": "mask encoding",
        "lr_schedule": "learning-rate schedule",
        "labels": "label mode",
        "epochs": "--epochs",
        "anchors_per_batch": "--batch-anchors",
        "mine_every": "--mine-every",
        "workers": "--workers",
        "hard_negatives": "--hard-negatives",
        "descriptor_dim": "--descriptor-dim",
        "learning_rate": "--lr",
        "temperature": "--temperature",
        "mask_dropout": "--mask-dropout",
        "greyscale": "--greyscale",
    }

    def check(self) -> None:
        counts = ("epochs", "anchors_per_batch", "mine_every", "hard_negatives", "descriptor_dim")
        for name in counts:
            self.at_least(name, 1)
        self.at_least("workers", 0)  # 0: auto
        self.positive("learning_rate", "1e-4")
        self.positive("temperature", "0.1")
        self.probability("mask_dropout")
        self.probability("greyscale")
        if self.image_only and self.mask_only:
            raise SettingsError(
                "--image-only and --mask-only exclude each other: train one ablation at a time "
                "(or neither, for the fused network)"
            )


# the sample generator's version: bump it when the drawing changes, so that cached samples are
# redrawn and workspaces prepared from the old world are told apart
SAMPLE_GENERATOR_VERSION = 4


@dataclass
class SampleSettings:
    """The built-in sample area (``prepare --sample``): its size, its world's seed, its old photos.

    ``km``: side of the square area (grows east and south from its north-west corner); ``seed``:
    draws the world (its own setting, so that a new ``split.seed`` never redraws it);
    ``panchromatic_before``: campaigns before this year are one-band grey and coarser, as IGN's
    historical orthophotos; BD ORTHO's first national coverage, from 2000, is in colour.
    """

    km: int = 8
    seed: int = 0
    panchromatic_before: int = 2000


@dataclass
class Settings:
    """Everything a workspace and its runs depend on."""

    version: int = SETTINGS_VERSION
    years: list[int] = field(default_factory=list)
    grid: GridSettings = field(default_factory=GridSettings)
    area: AreaSettings = field(default_factory=AreaSettings)
    sources: SourceSettings = field(default_factory=SourceSettings)
    prepare: PrepareSettings = field(default_factory=PrepareSettings)
    disk: DiskSettings = field(default_factory=DiskSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    labels: LabelSettings = field(default_factory=LabelSettings)
    sample: SampleSettings = field(default_factory=SampleSettings)
    train: TrainSettings = field(default_factory=TrainSettings)


def validate_years(years: list[int]) -> list[int]:
    """Two distinct plausible years, oldest first."""
    if len(years) != 2 or years[0] == years[1]:
        raise SettingsError(f"expected two distinct years, got {years or 'none'}: use --years 2000 2015")
    for year in years:
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise SettingsError(
                f"unknown year {year}: give survey years between {FIRST_YEAR} and {LAST_YEAR}"
            )
    return sorted(years)


def to_dict(obj: Any) -> dict:
    """Settings as plain data, ``None`` values dropped (TOML has no null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return clean(dataclasses.asdict(obj))


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass ``cls`` from plain data; unknown keys and wrong types are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}{key}"
        if key not in names:
            raise SettingsError(f"unknown setting '{path}': remove it or check its spelling")
        kwargs[key] = _coerce(hints[key], value, path)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise SettingsError(f"setting '{path}' must be a table")
        return from_dict(hint, value, f"{path}.")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(options[0], value, path)
    if origin is list:
        if not isinstance(value, list):
            raise SettingsError(f"setting '{path}' must be a list")
        (item,) = typing.get_args(hint)
        return [_coerce(item, v, path) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise SettingsError(f"setting '{path}' must be a table")
        _, item = typing.get_args(hint)
        return {str(k): _coerce(item, v, f"{path}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        raise SettingsError(f"setting '{path}' must be of type {hint.__name__}, got {value!r}")
    return value


def load_settings(path: str | Path) -> Settings:
    """Read a ``geosiam.toml``; a syntax error names its line."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}; fix the file or delete it to start over") from None
    return from_dict(Settings, migrate(data, str(path)))


def _drop_prepare_jobs(data: dict) -> dict:
    """Version 1 -> 2: ``prepare.jobs`` went (``--jobs`` is a run-time option, not a setting)."""
    data.get("prepare", {}).pop("jobs", None)
    return data


# version -> the step that brings a file of that version to the next one
MIGRATIONS = {1: _drop_prepare_jobs}


def migrate(data: dict, where: str = "geosiam.toml") -> dict:
    """Settings data of any known version brought to ``SETTINGS_VERSION``."""
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SettingsError(f"{where}: 'version' must be a whole number >= 1, got {version!r}")
    if version > SETTINGS_VERSION:
        raise SettingsError(
            f"{where} is settings version {version}, newer than this geosiam reads "
            f"({SETTINGS_VERSION}): upgrade geosiam (pip install -U geosiam)"
        )
    for step in range(version, SETTINGS_VERSION):
        data = MIGRATIONS[step](data)
    return {**data, "version": SETTINGS_VERSION}


def save_settings(settings: Settings, path: str | Path) -> None:
    """Write the resolved settings as TOML, atomically."""
    import tomli_w  # lazy: geosiam.model runs on GPU machines that only have keras + numpy

    atomic.write_text(path, tomli_w.dumps(to_dict(settings)))


def with_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """A copy of ``settings`` with dotted keys (``"grid.tile_px"``) replaced; None means unset."""
    data = to_dict(settings)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return from_dict(Settings, data)


def fingerprint(data: Any) -> str:
    """A short stable hash of plain data, to tell whether inputs changed."""
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
