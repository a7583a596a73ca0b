"""IGN's WMS-Raster service as a fallback source: a year's orthophoto mosaic as GeoTIFF blocks.

For a year with no BD ORTHO archive, ``{ign_url}/wms-r`` serves ``ORTHOIMAGERY.ORTHOPHOTOS<YEAR>``
(the coverage as it stood at the end of that year, a mix of survey years) or a period layer such
as ``ORTHOIMAGERY.ORTHOPHOTOS2000-2005``. The area is cut into blocks of whole grid tiles no larger
than the server's ``MaxWidth``/``MaxHeight`` (2048 px when GetCapabilities does not say), each
fetched with GetMap in EPSG:2154 at the grid's resolution and written as a tiled GeoTIFF with the
block's exact transform (whatever georeferencing the server sends). A block on disk is complete
(atomic write), so an interrupted fetch resumes with the missing blocks.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds

from geosiam import atomic
from geosiam.errors import DownloadError, SourceError
from geosiam.geometry import Bounds, bounds_overlap
from geosiam.geotiff import geotiff_profile
from geosiam.progress import progress
from geosiam.sources.download import HttpClient
from geosiam.sources.ogc import child as _child
from geosiam.sources.ogc import children as _children
from geosiam.sources.ogc import local_name as _local
from geosiam.sources.ogc import to_int

CRS = "EPSG:2154"
DEFAULT_MAX_PX = 2048
BLOCK_PX_CAP = 4096  # never ask for more in one request, whatever the server allows (memory)
FORMAT_PREFERENCE = ("image/geotiff", "image/tiff", "image/png", "image/jpeg")
_YEAR_LAYER = re.compile(r"^ORTHOIMAGERY\.ORTHOPHOTOS\.?(\d{4})(?:-(\d{4}))?$")


@dataclass(frozen=True)
class Layer:
    name: str
    styles: tuple[str, ...] = ()
    crs: frozenset[str] = frozenset()
    lonlat_bounds: Bounds | None = None  # west, south, east, north


@dataclass(frozen=True)
class Capabilities:
    layers: dict[str, Layer] = field(default_factory=dict)
    formats: tuple[str, ...] = ()
    max_width: int = DEFAULT_MAX_PX
    max_height: int = DEFAULT_MAX_PX

    @property
    def image_format(self) -> str:
        """The best advertised GetMap format (GeoTIFF first); GeoTIFF when none is listed."""
        for fmt in FORMAT_PREFERENCE:
            if fmt in self.formats:
                return fmt
        return FORMAT_PREFERENCE[0]


@dataclass(frozen=True)
class Block:
    """One GetMap request: its bounds in EPSG:2154 and its size in pixels."""

    bounds: Bounds
    width: int
    height: int

    @property
    def file_name(self) -> str:
        return "_".join(f"{v:.0f}" for v in self.bounds) + ".tif"


def parse_capabilities(text: str | bytes) -> Capabilities:
    """Layers (with inherited CRS and extents), GetMap formats and size limits of a WMS."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DownloadError(f"the WMS GetCapabilities is not XML ({exc}): check --ign-url") from None
    service = _child(root, "Service")
    max_width = to_int(_text(_child(service, "MaxWidth")))
    max_height = to_int(_text(_child(service, "MaxHeight")))
    capability = _child(root, "Capability")
    formats: tuple[str, ...] = ()
    layers: dict[str, Layer] = {}
    if capability is not None:
        get_map = _child(_child(capability, "Request"), "GetMap")
        if get_map is not None:
            formats = tuple((f.text or "").strip() for f in _children(get_map, "Format"))
        for top in _children(capability, "Layer"):
            _collect_layers(top, frozenset(), None, layers)
    return Capabilities(layers, formats, max_width or DEFAULT_MAX_PX, max_height or DEFAULT_MAX_PX)


def _collect_layers(node, crs: frozenset[str], extent: Bounds | None, out: dict[str, Layer]) -> None:
    crs = crs | {(c.text or "").strip().upper() for c in _children(node, "CRS") + _children(node, "SRS")}
    extent = _lonlat_box(node) or extent
    name = _child(node, "Name")
    if name is not None and name.text:
        styles = tuple(
            (s_name.text or "").strip()
            for s_name in (_child(s, "Name") for s in _children(node, "Style"))
            if s_name is not None
        )
        out[name.text.strip()] = Layer(name.text.strip(), styles, crs, extent)
    for child in _children(node, "Layer"):
        _collect_layers(child, crs, extent, out)


def ortho_layer(capabilities: Capabilities, year: int, lonlat_bounds: Bounds | None = None) -> Layer | None:
    """The orthophoto layer for ``year``: its own year layer, else the narrowest period holding it.

    With ``lonlat_bounds``, a layer whose advertised extent misses them is not a candidate.
    """
    candidates = []
    for layer in capabilities.layers.values():
        span = layer_years(layer.name)
        if span is None or not span[0] <= year <= span[1]:
            continue
        if lonlat_bounds and layer.lonlat_bounds and not bounds_overlap(layer.lonlat_bounds, lonlat_bounds):
            continue
        candidates.append((span[1] - span[0], layer.name))
    return capabilities.layers[min(candidates)[1]] if candidates else None


def layer_years(name: str) -> tuple[int, int] | None:
    """(first, last) year of an orthophoto year or period layer name, else None."""
    match = _YEAR_LAYER.match(name)
    if not match:
        return None
    first = int(match[1])
    return first, int(match[2] or first)


def plan_blocks(
    bounds: Bounds, tile_size_m: float, tile_px: int, origin: tuple[float, float], max_px: int
) -> list[Block]:
    """Blocks covering ``bounds`` snapped outwards to whole grid tiles, each at most ``max_px``."""
    res = tile_size_m / tile_px
    ox, oy = origin
    x0 = ox + math.floor((bounds[0] - ox) / tile_size_m) * tile_size_m
    y0 = oy + math.floor((bounds[1] - oy) / tile_size_m) * tile_size_m
    x1 = ox + math.ceil((bounds[2] - ox) / tile_size_m) * tile_size_m
    y1 = oy + math.ceil((bounds[3] - oy) / tile_size_m) * tile_size_m
    block_px = (max_px // tile_px) * tile_px or max_px
    step = block_px * res
    blocks = []
    y = y1
    while y > y0 + 1e-6:
        bottom = max(y0, y - step)
        x = x0
        while x < x1 - 1e-6:
            right = min(x1, x + step)
            blocks.append(Block((x, bottom, right, y), round((right - x) / res), round((y - bottom) / res)))
            x = right
        y = bottom
    return blocks


def capabilities(client: HttpClient, ign_url: str) -> Capabilities:
    """GetCapabilities of ``{ign_url}/wms-r``, parsed."""
    params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"}
    return parse_capabilities(client.get(_endpoint(ign_url), params).content)


def fetch_mosaic(
    client: HttpClient,
    ign_url: str,
    caps: Capabilities,
    layer: Layer,
    bounds: Bounds,
    grid: tuple[float, int, tuple[float, float]],
    folder: Path,
) -> list[Path]:
    """GeoTIFF blocks of ``layer`` covering ``bounds`` at the grid's resolution; their paths.

    ``grid`` is (tile size in m, tile size in px, origin); blocks already on disk are kept.
    """
    if layer.crs and CRS not in layer.crs:
        raise SourceError(
            f"WMS layer {layer.name} is not served in {CRS}: it cannot be used as a fallback here; "
            "give your own imagery for that year with --ortho"
        )
    tile_size_m, tile_px, origin = grid
    max_px = min(caps.max_width, caps.max_height, BLOCK_PX_CAP)
    blocks = plan_blocks(bounds, tile_size_m, tile_px, origin, max_px)
    target = folder / layer.name / f"{tile_size_m / tile_px:g}m"
    paths = []
    for block in progress(blocks, desc=f"WMS {layer.name}", unit="block"):
        path = target / block.file_name
        if not path.exists():
            _fetch_block(client, ign_url, caps, layer, block, path)
        paths.append(path)
    return paths


def _fetch_block(
    client: HttpClient, ign_url: str, caps: Capabilities, layer: Layer, block: Block, path: Path
) -> None:
    params = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": layer.name,
        "STYLES": layer.styles[0] if layer.styles else "",
        "CRS": CRS,
        "BBOX": ",".join(f"{v:.4f}" for v in block.bounds),
        "WIDTH": str(block.width),
        "HEIGHT": str(block.height),
        "FORMAT": caps.image_format,
    }
    response = client.get(_endpoint(ign_url), params)
    body = response.content
    if "xml" in response.headers.get("Content-Type", "") or body.lstrip()[:1] == b"<":
        raise DownloadError(
            f"WMS GetMap of {layer.name} failed: {_service_exception(body)}; check --ign-url "
            "or give your own imagery for that year with --ortho"
        )
    try:
        with MemoryFile(body) as memory, memory.open() as image:
            pixels = image.read()
    except rasterio.errors.RasterioIOError as exc:
        raise DownloadError(
            f"WMS GetMap of {layer.name} returned no readable image ({exc}); try again later"
        ) from None
    if pixels.shape[1:] != (block.height, block.width):
        raise DownloadError(
            f"WMS GetMap of {layer.name} returned {pixels.shape[2]}x{pixels.shape[1]} px instead of "
            f"{block.width}x{block.height}: the server does not honour WIDTH/HEIGHT; check --ign-url"
        )
    rgb = np.repeat(pixels[:1], 3, axis=0) if pixels.shape[0] < 3 else pixels[:3]
    transform = from_bounds(*block.bounds, block.width, block.height)
    profile = geotiff_profile(block.width, block.height, 3, CRS, transform, dtype=rgb.dtype)
    with atomic.atomic_path(path, ".tif") as tmp, rasterio.open(tmp, "w", **profile) as out:
        out.write(rgb)


def _endpoint(ign_url: str) -> str:
    return f"{ign_url.rstrip('/')}/wms-r"


def _service_exception(body: bytes) -> str:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body[:120].decode("utf-8", "replace")
    texts = [" ".join((e.text or "").split()) for e in root.iter() if _local(e.tag) == "ServiceException"]
    return "; ".join(t for t in texts if t) or "the server answered XML instead of an image"


def _text(node) -> str | None:
    return node.text if node is not None else None


def _lonlat_box(node) -> Bounds | None:
    box = _child(node, "EX_GeographicBoundingBox")
    if box is not None:
        values = [
            _child(box, k)
            for k in ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")
        ]
        if all(v is not None and v.text for v in values):
            return tuple(float(v.text) for v in values)  # type: ignore[return-value]
    box = _child(node, "LatLonBoundingBox")  # WMS 1.1.1
    if box is not None:
        return tuple(float(box.get(k, "nan")) for k in ("minx", "miny", "maxx", "maxy"))  # type: ignore[return-value]
    return None
