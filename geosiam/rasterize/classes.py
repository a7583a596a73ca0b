"""The class table: which vector features become which class id, colour and burn priority.

A TOML data file. Two are built in, one per BD TOPO data model, with the same class ids, names
and colours so that masks of both models compare: ``geosiam/data/classes_bdtopo.toml`` (v3, 2019
on) and ``classes_bdtopo2.toml`` (2.x, before); each year's edition version picks one.
``--classes FILE`` replaces both, so any vector data, OpenStreetMap say, can be used. Errors name
the file, the line of the offending ``[[classes]]`` entry and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from geosiam.errors import ClassTableError
from geosiam.tiling.palette import Palette

BACKGROUND = "background"  # the name of class id 0
BUILTIN = "classes_bdtopo.toml"
BUILTIN_BY_VERSION = {"3": BUILTIN, "2": "classes_bdtopo2.toml"}  # BD TOPO data model -> table
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_CLASS_KEYS = {"id", "name", "colour", "priority", "all_touched", "rules"}
_RULE_KEYS = {"layer", "where", "exclude", "width_attribute", "width_m", "width_by"}


@dataclass(frozen=True)
class Rule:
    """Selects features of some layers by attribute values; lines/points get a width."""

    layers: tuple[str, ...]
    where: dict[str, tuple] = field(default_factory=dict)
    exclude: dict[str, tuple] = field(default_factory=dict)
    width_attribute: str = ""
    width_m: float | None = None
    width_by_attribute: str = ""
    width_by: dict[str, float] = field(default_factory=dict)

    def matches_layer(self, layer: str) -> bool:
        return "*" in self.layers or layer.lower() in self.layers


@dataclass(frozen=True)
class ClassDef:
    id: int
    name: str
    colour: tuple[int, int, int]
    priority: int
    all_touched: bool
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class ClassTable:
    classes: tuple[ClassDef, ...]
    text: str  # the TOML source, saved into the workspace with the masks

    @property
    def num_classes(self) -> int:
        """Number of class ids including background 0 (max id + 1)."""
        return max((c.id for c in self.classes), default=0) + 1

    @property
    def layers(self) -> set[str]:
        """Every layer name some rule reads ("*" when a rule takes any layer)."""
        return {layer for c in self.classes for r in c.rules for layer in r.layers}

    def colours(self) -> dict[int, tuple[int, int, int]]:
        """Class id -> RGB colour, background black."""
        return {0: (0, 0, 0)} | {c.id: c.colour for c in self.classes}

    def palette(self) -> Palette:
        """The colours and names of the class ids, as masks and mask mosaics carry them."""
        return Palette(self.colours(), {0: BACKGROUND} | {c.id: c.name for c in self.classes})


def builtin_name(version: str = "") -> str:
    """The built-in table of a BD TOPO data model ("3", "2"); v3's for any other ("" unknown)."""
    return BUILTIN_BY_VERSION.get(version, BUILTIN)


def builtin_text(version: str = "") -> str:
    return resources.files("geosiam.data").joinpath(builtin_name(version)).read_text(encoding="utf-8")


def data_model_of(layer_names) -> str:
    """The BD TOPO data model ("3", "2") whose built-in table reads the most of ``layer_names``
    (lower-case layer names or file stems); "" when neither reads any."""
    names = {name.lower() for name in layer_names}
    read = {v: len(names & load_classes(version=v).layers) for v in BUILTIN_BY_VERSION}
    best = max(read, key=read.get)
    return best if read[best] else ""


def load_classes(path: str | Path | None = None, version: str = "") -> ClassTable:
    """Load and check a class table; ``None`` (or "") loads the built-in table of ``version``."""
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ClassTableError(f"cannot read class table {path}: {exc.strerror}") from None
        name = str(path)
    else:
        text, name = builtin_text(version), builtin_name(version)
    return parse_classes(text, name)


def parse_classes(text: str, name: str = "classes.toml") -> ClassTable:
    """Parse a class table from TOML text, with line-numbered errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClassTableError(f"{name}: {exc}") from None
    unknown = set(data) - {"classes"}
    if unknown:
        raise ClassTableError(f"{name}: unknown top-level key(s) {sorted(unknown)}; only [[classes]]")
    entries = data.get("classes")
    if not isinstance(entries, list) or not entries:
        raise ClassTableError(f"{name}: no [[classes]] entries; add at least one class")
    header_lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.strip() == "[[classes]]"]
    classes = []
    for index, entry in enumerate(entries):
        line = header_lines[index] if index < len(header_lines) else 0
        where = f"{name} line {line}" if line else f"{name} class #{index + 1}"
        classes.append(_parse_class(entry, where))
    _check_unique(classes, name)
    return ClassTable(tuple(classes), text)


def _parse_class(entry: dict[str, Any], where: str) -> ClassDef:
    def fail(problem: str) -> ClassTableError:
        label = entry.get("name", "?")
        return ClassTableError(f"{where} (class '{label}'): {problem}")

    unknown = set(entry) - _CLASS_KEYS
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_CLASS_KEYS)}")
    class_id = entry.get("id")
    if not isinstance(class_id, int) or isinstance(class_id, bool) or not 1 <= class_id <= 255:
        raise fail(f"id must be an integer from 1 to 255 (0 is background), got {class_id!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name must be a non-empty string")
    colour = entry.get("colour", "#808080")
    if not isinstance(colour, str) or not _COLOUR.match(colour):
        raise fail(f"colour must be '#RRGGBB', got {colour!r}")
    priority = entry.get("priority", class_id)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise fail(f"priority must be an integer, got {priority!r}")
    all_touched = entry.get("all_touched", False)
    if not isinstance(all_touched, bool):
        raise fail(f"all_touched must be true or false, got {all_touched!r}")
    rules = entry.get("rules")
    if not isinstance(rules, list) or not rules:
        raise fail("needs at least one [[classes.rules]] with a layer")
    return ClassDef(
        id=class_id,
        name=name.strip(),
        colour=tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)),
        priority=priority,
        all_touched=all_touched,
        rules=tuple(_parse_rule(rule, fail) for rule in rules),
    )


def _parse_rule(rule: dict[str, Any], fail) -> Rule:
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise fail(f"rule has unknown key(s) {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}")
    layer = rule.get("layer")
    layers = [layer] if isinstance(layer, str) else layer
    if not isinstance(layers, list) or not layers or not all(isinstance(x, str) and x for x in layers):
        raise fail('each rule needs layer = "name" or a list of names')
    filters = {}
    for key in ("where", "exclude"):
        table = rule.get(key, {})
        if not isinstance(table, dict):
            raise fail(f"{key} must be a table of attribute = [values]")
        filters[key] = {
            attr: tuple(values if isinstance(values, list) else [values]) for attr, values in table.items()
        }
    width_m = rule.get("width_m")
    if width_m is not None and (not isinstance(width_m, (int, float)) or width_m <= 0):
        raise fail(f"width_m must be a positive number of metres, got {width_m!r}")
    width_attribute = rule.get("width_attribute", "")
    if not isinstance(width_attribute, str):
        raise fail("width_attribute must be an attribute name")
    width_by = rule.get("width_by", {})
    by_attribute, by_values = "", {}
    if width_by:
        if not isinstance(width_by, dict) or set(width_by) != {"attribute", "widths"}:
            raise fail('width_by needs exactly: attribute = "name", widths = { value = metres }')
        by_attribute, by_values = width_by["attribute"], width_by["widths"]
        if not isinstance(by_values, dict) or not all(
            isinstance(v, (int, float)) and v > 0 for v in by_values.values()
        ):
            raise fail("width_by.widths values must be positive numbers of metres")
    return Rule(
        layers=tuple(x.lower() for x in layers),
        where=filters["where"],
        exclude=filters["exclude"],
        width_attribute=width_attribute,
        width_m=float(width_m) if width_m is not None else None,
        width_by_attribute=by_attribute,
        width_by={str(k): float(v) for k, v in by_values.items()},
    )


def _check_unique(classes: list[ClassDef], name: str) -> None:
    seen_ids: dict[int, str] = {}
    for c in classes:
        if c.id in seen_ids:
            raise ClassTableError(
                f"{name}: classes '{seen_ids[c.id]}' and '{c.name}' share id {c.id}; ids must be unique"
            )
        seen_ids[c.id] = c.name
    names = [c.name for c in classes]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ClassTableError(f"{name}: class name(s) {sorted(duplicates)} appear twice; rename one")
