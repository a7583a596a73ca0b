"""Per-year mosaics: one GDAL VRT over a year's tiles (or masks), to open a whole year at once.

A VRT is an XML file that GDAL (and so QGIS) reads as one raster made of other rasters. The tiles
lie on one grid, so each is placed by its column and row alone, without opening it: the RGB mosaic
of 10 000 tiles is written in 0.8 s (measured on 2 loaded cores). Image mosaics carry the tiles' validity
masks (a per-dataset mask band, as ``gdalbuildvrt`` makes), so the gaps between tiles and the
invalid pixels show as transparent; mask mosaics carry the class table's colour table and
category names, so QGIS shows the classes by colour and name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from rasterio.crs import CRS

from geosiam import atomic
from geosiam.geotiff import block_px
from geosiam.tiling.grid import Grid
from geosiam.tiling.palette import Palette

RGB_INTERP = ("Red", "Green", "Blue")


@dataclass(frozen=True)
class Placed:
    """One tile of the mosaic: its file (relative to the VRT) and its grid position."""

    path: str
    col: int
    row: int


def write_mosaic(path: Path, tiles: list[Placed], grid: Grid, bands: int, palette: Palette | None = None):
    """Write the VRT at ``path``: ``bands`` uint8 bands (3: RGB with the tiles' masks; 1: class ids
    coloured and named by ``palette``), atomically."""
    if not tiles:
        raise ValueError(f"no tiles for the mosaic {path}")
    atomic.write_text(path, mosaic_xml(tiles, grid, bands, palette))


def mosaic_xml(tiles: list[Placed], grid: Grid, bands: int, palette: Palette | None = None) -> str:
    """The VRT document of a mosaic of ``tiles`` on ``grid``."""
    px = grid.tile_px
    col0, col1 = min(t.col for t in tiles), max(t.col for t in tiles)
    row0, row1 = min(t.row for t in tiles), max(t.row for t in tiles)
    xmin, _, _, ymax = grid.bounds(col0, row1)
    width, height = (col1 - col0 + 1) * px, (row1 - row0 + 1) * px
    # the sources' size and blocks, so that GDAL need not open every tile to read the VRT
    block = block_px(px, px)
    blocks = f' BlockXSize="{block}" BlockYSize="{block}"' if block else ""
    properties = f'<SourceProperties RasterXSize="{px}" RasterYSize="{px}" DataType="Byte"{blocks}/>'

    def sources(band: str) -> str:
        return "".join(
            f'<SimpleSource><SourceFilename relativeToVRT="1">{escape(t.path)}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand>{properties}"
            f'<SrcRect xOff="0" yOff="0" xSize="{px}" ySize="{px}"/>'
            f'<DstRect xOff="{(t.col - col0) * px}" yOff="{(row1 - t.row) * px}" xSize="{px}" ySize="{px}"/>'
            "</SimpleSource>\n"
            for t in tiles
        )

    if bands == 1:
        style = "<ColorInterp>Palette</ColorInterp>\n" + (palette.band_xml() if palette else "")
        body = f'<VRTRasterBand dataType="Byte" band="1">\n{style}{sources("1")}</VRTRasterBand>\n'
    else:
        body = "".join(
            f'<VRTRasterBand dataType="Byte" band="{b}">\n<ColorInterp>{RGB_INTERP[b - 1]}</ColorInterp>\n'
            f"{sources(str(b))}</VRTRasterBand>\n"
            for b in range(1, bands + 1)
        )
        body += (
            f'<MaskBand>\n<VRTRasterBand dataType="Byte">\n{sources("mask,1")}</VRTRasterBand>\n</MaskBand>\n'
        )
    res = grid.resolution
    return (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n'
        f"<SRS>{escape(CRS.from_user_input(grid.crs).to_wkt())}</SRS>\n"
        f"<GeoTransform>{xmin!r}, {res!r}, 0.0, {ymax!r}, 0.0, {-res!r}</GeoTransform>\n"
        f"{body}</VRTDataset>\n"
    )
