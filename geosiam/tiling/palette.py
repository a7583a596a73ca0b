"""A class raster's palette: a colour and a name per value, as GDAL and QGIS read them.

GeoTIFF stores the colour table in the file; category names it cannot hold, so GDAL keeps them in
a ``.aux.xml`` sidecar beside it (its PAM file), and a VRT holds both in its band. QGIS reads both
on open and shows the classes by name and colour (paletted renderer), with no styling by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from geosiam import atomic

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    """Value -> colour and value -> name; values without an entry are black and nameless."""

    colours: dict[int, RGB]
    names: dict[int, str]

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        """The colour table as rasterio's ``write_colormap`` takes it (RGBA)."""
        return {value: (*rgb, 255) for value, rgb in sorted(self.colours.items())}

    def band_xml(self) -> str:
        """``<CategoryNames>`` and ``<ColorTable>``: the band elements of a VRT and of a PAM file."""
        last = max([*self.colours, *self.names], default=0)
        names = "".join(f"<Category>{escape(self.names.get(v, ''))}</Category>" for v in range(last + 1))
        entries = "".join(
            '<Entry c1="{}" c2="{}" c3="{}" c4="255"/>'.format(*self.colours.get(v, (0, 0, 0)))
            for v in range(last + 1)
        )
        return f"<CategoryNames>{names}</CategoryNames>\n<ColorTable>{entries}</ColorTable>\n"


def write_category_names(raster: Path, palette: Palette) -> None:
    """The ``<raster>.aux.xml`` GDAL reads beside a single-band raster: its category names and
    colour table (the raster keeps its own colour table too)."""
    xml = f'<PAMDataset>\n<PAMRasterBand band="1">\n{palette.band_xml()}</PAMRasterBand>\n</PAMDataset>\n'
    atomic.write_text(Path(f"{raster}.aux.xml"), xml)
