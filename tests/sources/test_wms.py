"""The WMS-R fallback: capabilities, the layer for a year, blocks within the server's limits."""

import numpy as np
import pytest
import rasterio

from geosiam.config import HttpSettings
from geosiam.errors import DownloadError
from geosiam.sources import wms
from geosiam.sources.download import HttpClient

CAPABILITIES = """<?xml version="1.0"?>
<WMS_Capabilities version="1.3.0" xmlns="http://www.opengis.net/wms">
 <Service><Name>WMS</Name><MaxWidth>4096</MaxWidth><MaxHeight>3000</MaxHeight></Service>
 <Capability>
  <Request><GetMap><Format>image/png</Format><Format>image/tiff</Format></GetMap></Request>
  <Layer><CRS>EPSG:2154</CRS>
   <EX_GeographicBoundingBox><westBoundLongitude>-5</westBoundLongitude><eastBoundLongitude>9</eastBoundLongitude>
    <southBoundLatitude>41</southBoundLatitude><northBoundLatitude>51</northBoundLatitude></EX_GeographicBoundingBox>
   <Layer><Name>ORTHOIMAGERY.ORTHOPHOTOS2003</Name><Style><Name>normal</Name></Style></Layer>
   <Layer><Name>ORTHOIMAGERY.ORTHOPHOTOS2000-2005</Name></Layer>
   <Layer><Name>ORTHOIMAGERY.ORTHOPHOTOS.1965-1980</Name><Style><Name>BDORTHOHISTORIQUE</Name></Style></Layer>
   <Layer><Name>ORTHOIMAGERY.ORTHOPHOTOS.IRC.2012</Name></Layer>
   <Layer><Name>ORTHOIMAGERY.ORTHOPHOTOS2008</Name><CRS>EPSG:3857</CRS>
    <EX_GeographicBoundingBox><westBoundLongitude>55</westBoundLongitude><eastBoundLongitude>56</eastBoundLongitude>
     <southBoundLatitude>-21</southBoundLatitude><northBoundLatitude>-20</northBoundLatitude>
    </EX_GeographicBoundingBox></Layer>
  </Layer>
 </Capability>
</WMS_Capabilities>"""
NANCY_LONLAT = (6.1, 48.6, 6.3, 48.8)


def test_capabilities_limits_formats_and_inherited_crs():
    caps = wms.parse_capabilities(CAPABILITIES)
    assert (caps.max_width, caps.max_height) == (4096, 3000)
    assert caps.image_format == "image/tiff"
    assert caps.layers["ORTHOIMAGERY.ORTHOPHOTOS2003"].crs == {"EPSG:2154"}
    assert caps.layers["ORTHOIMAGERY.ORTHOPHOTOS2008"].crs == {"EPSG:2154", "EPSG:3857"}
    assert caps.layers["ORTHOIMAGERY.ORTHOPHOTOS.1965-1980"].styles == ("BDORTHOHISTORIQUE",)


def test_default_size_limit_when_the_server_does_not_say():
    caps = wms.parse_capabilities(
        CAPABILITIES.replace("<MaxWidth>4096</MaxWidth><MaxHeight>3000</MaxHeight>", "")
    )
    assert (caps.max_width, caps.max_height) == (2048, 2048)
    assert wms.Capabilities().image_format == "image/geotiff"


@pytest.mark.parametrize(
    "year, layer",
    [
        (2003, "ORTHOIMAGERY.ORTHOPHOTOS2003"),  # its own year layer first
        (2001, "ORTHOIMAGERY.ORTHOPHOTOS2000-2005"),  # else the period holding it
        (1970, "ORTHOIMAGERY.ORTHOPHOTOS.1965-1980"),
        (2008, None),  # the 2008 layer here lies elsewhere (its extent misses the area)
        (2012, None),  # IRC layers are not orthophotos in colour
    ],
)
def test_layer_for_a_year(year, layer):
    found = wms.ortho_layer(wms.parse_capabilities(CAPABILITIES), year, NANCY_LONLAT)
    assert (found.name if found else None) == layer


def test_blocks_are_whole_tiles_within_the_limit():
    blocks = wms.plan_blocks((900100, 6845000, 905900, 6846500), 1000, 256, (0, 0), 600)
    assert {(b.width, b.height) for b in blocks} <= {(512, 512), (256, 512), (512, 256), (256, 256)}
    assert min(b.bounds[0] for b in blocks) == 900000 and max(b.bounds[2] for b in blocks) == 906000
    assert min(b.bounds[1] for b in blocks) == 6845000 and max(b.bounds[3] for b in blocks) == 6847000
    area = sum((b.bounds[2] - b.bounds[0]) * (b.bounds[3] - b.bounds[1]) for b in blocks)
    assert area == 6000 * 2000 and all(b.width <= 600 and b.height <= 600 for b in blocks)


def test_tiles_larger_than_the_limit_are_split():
    blocks = wms.plan_blocks((0, 0, 1000, 1000), 1000, 4096, (0, 0), 2048)
    assert len(blocks) == 4 and all((b.width, b.height) == (2048, 2048) for b in blocks)


def test_mosaic_blocks_are_georeferenced_and_resume(geoplateforme, tmp_path):
    geoplateforme.wms_layers = {"ORTHOIMAGERY.ORTHOPHOTOS2015": ["normal"]}
    geoplateforme.wms_max = None  # no MaxWidth: 2048 px blocks
    bounds = (900000, 6845000, 902000, 6846000)
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        caps = wms.capabilities(http, geoplateforme.url)
        layer = wms.ortho_layer(caps, 2015)
        paths = wms.fetch_mosaic(
            http, geoplateforme.url, caps, layer, bounds, (1000.0, 100, (0, 0)), tmp_path
        )
        again = wms.fetch_mosaic(
            http, geoplateforme.url, caps, layer, bounds, (1000.0, 100, (0, 0)), tmp_path
        )
    assert paths == again and len(paths) == 1
    getmaps = [q for _, q, _ in geoplateforme.hits("/wms-r") if q["REQUEST"] == "GetMap"]
    assert len(getmaps) == 1 and getmaps[0]["STYLES"] == "normal"
    assert getmaps[0]["BBOX"] == "900000.0000,6845000.0000,902000.0000,6846000.0000"
    with rasterio.open(paths[0]) as src:
        assert src.bounds == bounds and src.res == (10, 10) and src.crs == "EPSG:2154"
        assert (
            src.compression.value == "ZSTD" and src.colorinterp[0].name == "red"
        )  # geosiam.geotiff's profile
        pixels = src.read()
    x, y = 900000 + 10 * np.arange(200), 6846000 - 10 * np.arange(100)
    assert (pixels[0][0] == ((x / 50) % 256).astype("uint8")).all()  # the server's x, in place
    assert (pixels[1][:, 0] == ((y / 50) % 256).astype("uint8")).all()


def test_service_exception_is_a_clear_error(geoplateforme, tmp_path):
    geoplateforme.wms_layers = {"ORTHOIMAGERY.ORTHOPHOTOS2015": ["normal"]}
    with HttpClient(HttpSettings(request_interval_s=0)) as http:
        caps = wms.capabilities(http, geoplateforme.url)
        missing = wms.Layer("ORTHOIMAGERY.ORTHOPHOTOS1999")
        with pytest.raises(
            DownloadError, match="GetMap of ORTHOIMAGERY.ORTHOPHOTOS1999 failed: LayerNotDefined"
        ):
            wms.fetch_mosaic(
                http, geoplateforme.url, caps, missing, (0, 0, 1000, 1000), (1000.0, 16, (0, 0)), tmp_path
            )
    assert not list(tmp_path.rglob("*.tif"))
