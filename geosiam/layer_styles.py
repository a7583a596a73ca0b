"""QGIS styles stored inside a GeoPackage, so that a layer opens already coloured.

QGIS keeps a layer's style in the GeoPackage's ``layer_styles`` table and applies the row marked
``useAsDefault`` when the layer is opened. :func:`write_style` writes that row exactly as QGIS's own
"Save style > In database" does (QgsOgrUtils::saveStyle): the same columns and types, the table
registered in ``gpkg_contents`` as an attributes table, a style of the same name replaced, the
previous default of the layer unset.

Three renderers cover geosiam's layers, written as QGIS 3 QML:
:class:`Single` (one symbol), :class:`Categorized` (a colour per value of a field) and
:class:`Graduated` (a numeric field in classes along a colour ramp; the class breaks are computed
from the layer's own values when not given). The symbol (fill, line or marker) follows the
layer's geometry type.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

TABLE = "layer_styles"
QGIS_VERSION = "3.22.16-Białowieża"  # the QML dialect written; newer QGIS read it unchanged
STYLE_NAME = "geosiam"

# QGIS's own DDL for the table (what GDAL's GPKG driver makes of QgsOgrUtils::saveStyle's fields)
CREATE_TABLE = f"""CREATE TABLE "{TABLE}" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  "f_table_catalog" TEXT(256),
  "f_table_schema" TEXT(256),
  "f_table_name" TEXT(256),
  "f_geometry_column" TEXT(256),
  "styleName" TEXT(30),
  "styleQML" TEXT,
  "styleSLD" TEXT,
  "useAsDefault" BOOLEAN,
  "description" TEXT,
  "owner" TEXT(30),
  "ui" TEXT(30),
  "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)"""


@dataclass(frozen=True)
class Symbol:
    """How one class is drawn: a fill (or line, or marker) colour and an outline."""

    colour: str  # "#rrggbb"
    outline: str = "#232323"
    outline_mm: float = 0.26
    filled: bool = True  # False: outline only (polygons)


@dataclass(frozen=True)
class Category:
    """One value of a categorized field, its colour and its legend label."""

    value: str | int | float
    colour: str
    label: str = ""


@dataclass(frozen=True)
class Single:
    """Every feature drawn with one symbol."""

    symbol: Symbol
    opacity: float = 1.0


@dataclass(frozen=True)
class Categorized:
    """A colour per value of ``field``; features with another value are not drawn."""

    field: str
    categories: tuple[Category, ...]
    opacity: float = 1.0
    outline: str = "#232323"


@dataclass(frozen=True)
class Graduated:
    """A numeric ``field`` in classes coloured along ``ramp`` (colour stops, low to high).

    ``breaks`` are the class limits (n + 1 increasing numbers for n classes); when empty they are
    computed from the layer's values at write time, ``classes`` classes of equal width
    (``mode="equal"``) or equal counts (``mode="quantile"``).
    """

    field: str
    ramp: tuple[str, ...]
    classes: int = 5
    mode: str = "equal"
    breaks: tuple[float, ...] = ()
    opacity: float = 1.0
    outline: str = "#232323"


Style = Single | Categorized | Graduated
MODES = ("equal", "quantile")


def write_style(
    gpkg: str | Path,
    layer: str,
    style: Style,
    name: str = STYLE_NAME,
    description: str = "",
    default: bool = True,
) -> None:
    """Store ``style`` for ``layer`` of the GeoPackage ``gpkg`` in its ``layer_styles`` table.

    A style of the same ``name`` for that layer is replaced; with ``default`` it becomes the style
    QGIS applies on open. One SQLite transaction: the file is never left half-written.
    """
    path = Path(gpkg)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        geometry_column, geometry_type = _geometry(db, layer)
        if isinstance(style, Graduated) and not style.breaks:
            style = _with_breaks(style, _values(db, layer, style.field))
        qml = style_qml(style, symbol_kind(geometry_type))
        _ensure_table(db)
        if default:
            db.execute(
                f'UPDATE "{TABLE}" SET useAsDefault = 0 WHERE f_table_name = ? AND f_geometry_column = ?',
                (layer, geometry_column),
            )
        db.execute(
            f'DELETE FROM "{TABLE}" WHERE f_table_name = ? AND f_geometry_column = ? AND styleName = ?',
            (layer, geometry_column, name),
        )
        db.execute(
            f'INSERT INTO "{TABLE}" (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, '
            "styleName, styleQML, styleSLD, useAsDefault, description, owner) "
            "VALUES ('', '', ?, ?, ?, ?, '', ?, ?, '')",
            (layer, geometry_column, name, qml, int(default), description or f"{layer} ({name})"),
        )


def _geometry(db: sqlite3.Connection, layer: str) -> tuple[str, str]:
    row = db.execute(
        "SELECT column_name, geometry_type_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)
    ).fetchone()
    if row is None:
        raise ValueError(f"the GeoPackage has no feature layer {layer!r} to style")
    return row[0], row[1]


def _values(db: sqlite3.Connection, layer: str, field: str) -> list[float]:
    rows = db.execute(f'SELECT "{field}" FROM "{layer}" WHERE "{field}" IS NOT NULL').fetchall()
    return [float(v) for (v,) in rows if isinstance(v, int | float) and math.isfinite(v)]


def _ensure_table(db: sqlite3.Connection) -> None:
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone()
    if exists:
        return
    db.execute(CREATE_TABLE)
    db.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
        "VALUES (?, 'attributes', ?, '', strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
        (TABLE, TABLE),
    )


def class_breaks(values: list[float], classes: int, mode: str = "equal") -> tuple[float, ...]:
    """``classes`` + 1 increasing limits over ``values``: equal widths or equal counts."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    if not values:
        return (0.0, 0.0)
    ordered = sorted(values)
    low, high = ordered[0], ordered[-1]
    if low == high or classes < 2:
        return (low, high)
    if mode == "equal":
        inner = [low + (high - low) * i / classes for i in range(1, classes)]
    else:
        inner = [_quantile(ordered, i / classes) for i in range(1, classes)]
    limits = [low] + [b for b in inner if low < b < high] + [high]
    return tuple(sorted(set(limits)))


def _quantile(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _with_breaks(style: Graduated, values: list[float]) -> Graduated:
    return Graduated(
        style.field,
        style.ramp,
        style.classes,
        style.mode,
        class_breaks(values, style.classes, style.mode),
        style.opacity,
        style.outline,
    )


def ramp_colour(ramp: tuple[str, ...], t: float) -> str:
    """The colour at ``t`` in [0, 1] along the stops of ``ramp`` (linear in RGB)."""
    if len(ramp) == 1:
        return ramp[0]
    t = min(max(t, 0.0), 1.0) * (len(ramp) - 1)
    i = min(int(t), len(ramp) - 2)
    a, b = _rgb(ramp[i]), _rgb(ramp[i + 1])
    mix = [round(x + (y - x) * (t - i)) for x, y in zip(a, b)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def symbol_kind(geometry_type: str) -> str:
    """QGIS's symbol type for a GeoPackage geometry type name: fill, line or marker."""
    kind = geometry_type.upper()
    if "POLYGON" in kind or "SURFACE" in kind:
        return "fill"
    if "LINE" in kind or "CURVE" in kind:
        return "line"
    return "marker"


def style_qml(style: Style, kind: str) -> str:
    """The QML document (QGIS's style format) of ``style`` for symbols of ``kind``."""
    if isinstance(style, Single):
        renderer = (
            '<renderer-v2 type="singleSymbol" symbollevels="0" forceraster="0" enableorderby="0" '
            'referencescale="-1">\n<symbols>\n'
            + _symbol("0", kind, style.symbol, style.opacity)
            + "</symbols>\n</renderer-v2>"
        )
    elif isinstance(style, Categorized):
        categories = "".join(
            f'<category render="true" symbol="{i}" value={quoteattr(str(c.value))} '
            f"label={quoteattr(c.label or str(c.value))}/>\n"
            for i, c in enumerate(style.categories)
        )
        symbols = "".join(
            _symbol(str(i), kind, Symbol(c.colour, style.outline), style.opacity)
            for i, c in enumerate(style.categories)
        )
        renderer = (
            f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(style.field)} symbollevels="0" '
            'forceraster="0" enableorderby="0" referencescale="-1">\n'
            f"<categories>\n{categories}</categories>\n<symbols>\n{symbols}</symbols>\n</renderer-v2>"
        )
    elif isinstance(style, Graduated):
        renderer = _graduated(style, kind)
    else:
        raise TypeError(f"not a style: {style!r}")
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology">\n{renderer}\n</qgis>\n'
    )


def _graduated(style: Graduated, kind: str) -> str:
    breaks = style.breaks or (0.0, 0.0)
    n = max(len(breaks) - 1, 1)
    pairs = list(zip(breaks[:-1], breaks[1:])) or [(breaks[0], breaks[0])]
    ranges, symbols = [], []
    for i, (low, high) in enumerate(pairs):
        label = f"{_number(low)} - {_number(high)}"
        ranges.append(
            f'<range render="true" symbol="{i}" lower="{low!r}" upper="{high!r}" label={quoteattr(label)}/>\n'
        )
        colour = ramp_colour(style.ramp, i / (n - 1) if n > 1 else 0.0)
        symbols.append(_symbol(str(i), kind, Symbol(colour, style.outline), style.opacity))
    return (
        f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(style.field)} '
        'graduatedMethod="GraduatedColor" symbollevels="0" forceraster="0" enableorderby="0" '
        'referencescale="-1">\n'
        f"<ranges>\n{''.join(ranges)}</ranges>\n<symbols>\n{''.join(symbols)}</symbols>\n"
        + _ramp(style.ramp)
        + f'<mode name="{"equal" if style.mode == "equal" else "quantile"}"/>\n</renderer-v2>'
    )


def _ramp(ramp: tuple[str, ...]) -> str:
    stops = ":".join(f"{i / (len(ramp) - 1):g};{_qcolour(c)}" for i, c in enumerate(ramp[1:-1], 1))
    props = {
        "color1": _qcolour(ramp[0]),
        "color2": _qcolour(ramp[-1]),
        "discrete": "0",
        "rampType": "gradient",
        "stops": stops,
    }
    return f'<colorramp type="gradient" name="[source]">\n{_props(props)}</colorramp>\n'


def _symbol(name: str, kind: str, symbol: Symbol, opacity: float) -> str:
    if kind == "fill":
        layer_class, props = (
            "SimpleFill",
            {
                "color": _qcolour(symbol.colour),
                "style": "solid" if symbol.filled else "no",
                "outline_color": _qcolour(symbol.outline),
                "outline_style": "solid",
                "outline_width": f"{symbol.outline_mm:g}",
                "outline_width_unit": "MM",
                "joinstyle": "bevel",
            },
        )
    elif kind == "line":
        layer_class, props = (
            "SimpleLine",
            {
                "line_color": _qcolour(symbol.colour),
                "line_style": "solid",
                "line_width": f"{max(symbol.outline_mm, 0.5):g}",
                "line_width_unit": "MM",
            },
        )
    else:
        layer_class, props = (
            "SimpleMarker",
            {
                "name": "circle",
                "color": _qcolour(symbol.colour),
                "outline_color": _qcolour(symbol.outline),
                "outline_width": f"{symbol.outline_mm:g}",
                "size": "2.6",
                "size_unit": "MM",
            },
        )
    return (
        f'<symbol type="{kind}" name="{name}" alpha="{opacity:g}" clip_to_extent="1" force_rhr="0">\n'
        f'<layer class="{layer_class}" enabled="1" locked="0" pass="0">\n{_props(props)}</layer>\n</symbol>\n'
    )


def _props(props: dict[str, str]) -> str:
    """Symbol-layer properties in both forms QGIS 3 reads: ``<Option>`` (3.20+) and ``<prop>``."""
    options = "".join(f'<Option type="QString" name="{k}" value={quoteattr(v)}/>\n' for k, v in props.items())
    legacy = "".join(f'<prop k="{k}" v={quoteattr(v)}/>\n' for k, v in props.items())
    return f'<Option type="Map">\n{options}</Option>\n{legacy}'


def _rgb(colour: str) -> tuple[int, int, int]:
    text = colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"colour {colour!r}: expected #rrggbb")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def _qcolour(colour: str) -> str:
    return ",".join(str(c) for c in _rgb(colour)) + ",255"


def _number(value: float) -> str:
    return f"{value:.4g}"
