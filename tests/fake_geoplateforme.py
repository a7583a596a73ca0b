"""A local stand-in for IGN's Géoplateforme (data.geopf.fr), for tests on 127.0.0.1.

It follows IGN's documented protocol (README, "Real IGN data"):

- ``/telechargement/resource/{resource}?zone=&format=&page=&limit=``: Atom feed (namespace
  ``gpf_dl``) of deliveries, paged from 1 with ``limit`` clamped to 50, the root carrying
  ``gpf_dl:pagecount`` and ``gpf_dl:totalentries``; each entry a title, a link of type
  ``application/atom+xml``, ``gpf_dl:zone`` and ``gpf_dl:editionDate``.
- ``/telechargement/resource/{resource}/{delivery}``: Atom feed of its files, each link with its
  ``type`` (``application/x-7z-compressed``, ``application/octet-stream`` for volumes) and
  ``length``; hrefs name the public host (https://data.geopf.fr), as IGN's do.
- ``/telechargement/download/{resource}/{delivery}/{file}``: the bytes, with ``Range`` support.
- ``/wms-r``: GetCapabilities (WMS 1.3.0, ``MaxWidth``/``MaxHeight``) and GetMap as GeoTIFF.
- ``/wfs``: GetFeature of ``ADMINEXPRESS-COG-CARTO.LATEST:departement`` as GeoJSON, with BBOX.

Faults are queued per path (:meth:`FakeGeoplateforme.fail`) and consumed one per request.
Builders make tiny IGN-like deliveries: BD ORTHO 7z (optionally in volumes) with JP2 dalles named
by IGN's convention in IGN's folder layout, BD TOPO v3 7z with one GeoPackage, BD TOPO 2.x 7z
with Shapefiles in theme folders (``E_BATI/BATI_INDIFFERENCIE.SHP``...), and their .md5 files.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import numpy as np

PUBLIC_HOST = "https://data.geopf.fr"
GPF_DL = "https://data.geopf.fr/annexes/ressources/xsd/gpf_dl.xsd"
MAX_LIMIT = 50
WFS_LAYER = "ADMINEXPRESS-COG-CARTO.LATEST:departement"


@dataclass
class FakeDelivery:
    resource: str
    name: str
    zone: str
    edition: str
    files: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes (order kept)
    lengths: bool = True  # announce each file's length in the detail feed


@dataclass
class Fault:
    kind: str  # "status", "drop" (close after n bytes), "corrupt" (flip one byte), "ignore-range"
    status: int = 0
    headers: dict = field(default_factory=dict)
    after: int = 0


class FakeGeoplateforme:
    """The server's state: deliveries, files, WMS layers, départements, faults, request log."""

    def __init__(self) -> None:
        self.deliveries: dict[str, dict[str, FakeDelivery]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[tuple[str, dict, dict]] = []  # (path, query, headers)
        self.wms_layers: dict[str, list[str]] = {}  # layer -> style names
        self.wms_max: int | None = 256
        self.departements: dict[str, tuple[float, float, float, float]] = {}
        self.code_property = "code_insee"
        self.pagecount = True  # False: feeds carry gpf_dl:totalentries only
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- content ---------------------------------------------------------------------------------

    def add(self, delivery: FakeDelivery) -> FakeDelivery:
        self.deliveries.setdefault(delivery.resource, {})[delivery.name] = delivery
        return delivery

    def fail(self, path_end: str, *faults: Fault) -> None:
        """Queue faults for the next requests whose path ends with ``path_end``."""
        self.faults.setdefault(path_end, []).extend(faults)

    def hits(self, path_end: str) -> list[tuple[str, dict, dict]]:
        return [r for r in self.requests if r[0].endswith(path_end)]

    # -- life --------------------------------------------------------------------------------------

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _take_fault(self, path: str) -> Fault | None:
        for end, queue in self.faults.items():
            if path.endswith(end) and queue:
                return queue.pop(0)
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGeoplateforme
    protocol_version = "HTTP/1.0"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.fake.requests.append((parts.path, query, dict(self.headers)))
        fault = self.fake._take_fault(parts.path)
        if fault and fault.kind == "status":
            return self._send(fault.status, b"busy", "text/plain", fault.headers)
        segments = [s for s in parts.path.split("/") if s]
        try:
            if segments[:2] == ["telechargement", "resource"] and len(segments) == 3:
                return self._index(segments[2], query)
            if segments[:2] == ["telechargement", "resource"] and len(segments) == 4:
                return self._detail(segments[2], segments[3], query)
            if segments[:2] == ["telechargement", "download"] and len(segments) == 5:
                return self._download(segments[2], segments[3], segments[4], fault)
            if segments == ["wms-r"]:
                return self._wms({k.upper(): v for k, v in query.items()})
            if segments == ["wfs"]:
                return self._wfs({k.upper(): v for k, v in query.items()})
        except KeyError:
            pass
        self._send(404, b"not found", "text/plain")

    # -- download service ------------------------------------------------------------------------

    def _index(self, resource: str, query: dict) -> None:
        deliveries = list(self.fake.deliveries[resource].values())
        if query.get("zone"):
            deliveries = [d for d in deliveries if d.zone == query["zone"]]
        if query.get("format"):
            deliveries = [d for d in deliveries if f"_{query['format']}_" in d.name]
        entries = [
            f"<entry><id>{PUBLIC_HOST}/telechargement/resource/{resource}/{d.name}</id>"
            f"<title>{d.name}</title>"
            f'<link href="{PUBLIC_HOST}/telechargement/resource/{resource}/{d.name}" '
            'type="application/atom+xml"/>'
            f'<gpf_dl:zone term="{d.zone}" label="{d.zone}"/>'
            f"<gpf_dl:editionDate>{d.edition}</gpf_dl:editionDate></entry>"
            for d in deliveries
        ]
        self._feed(f"{PUBLIC_HOST}/telechargement/resource/{resource}", entries, query)

    def _detail(self, resource: str, name: str, query: dict) -> None:
        delivery = self.fake.deliveries[resource][name]
        entries = []
        for file_name, data in delivery.files.items():
            kind = (
                "application/x-7z-compressed"
                if file_name.endswith(".7z")
                else "application/octet-stream"
                if ".7z." in file_name
                else "text/plain"
            )
            length = f' length="{len(data)}"' if delivery.lengths else ""
            href = f"{PUBLIC_HOST}/telechargement/download/{resource}/{name}/{file_name}"
            entries.append(
                f"<entry><id>{href}</id><title>{file_name}</title>"
                f'<link href="{href}" type="{kind}"{length} title="{file_name}"/></entry>'
            )
        self._feed(f"{PUBLIC_HOST}/telechargement/resource/{resource}/{name}", entries, query)

    def _feed(self, feed_id: str, entries: list[str], query: dict) -> None:
        limit = min(int(query.get("limit") or 10), MAX_LIMIT)
        page = int(query.get("page") or 1)
        total = len(entries)
        pages = max(1, math.ceil(total / limit))
        chosen = entries[(page - 1) * limit : page * limit]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:gpf_dl="{GPF_DL}" '
            f'gpf_dl:pagesize="{limit}" '
            + (f'gpf_dl:pagecount="{pages}" ' if self.fake.pagecount else "")
            + f'gpf_dl:totalentries="{total}">'
            f"<id>{feed_id}</id><title>feed</title><updated>2025-01-01T00:00:00Z</updated>"
            + "".join(chosen)
            + "</feed>"
        )
        self._send(200, body.encode(), "application/atom+xml")

    def _download(self, resource: str, name: str, file_name: str, fault: Fault | None) -> None:
        data = self.fake.deliveries[resource][name].files[file_name]
        if fault and fault.kind == "corrupt":
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        header = self.headers.get("Range")
        if header and not (fault and fault.kind == "ignore-range"):
            start = int(header.split("=")[1].split("-")[0])
            if start >= len(data):
                return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if fault and fault.kind == "drop":
            self.wfile.write(body[: fault.after])
            self.wfile.flush()
            self.connection.shutdown(2)
            self.close_connection = True
            return
        self.wfile.write(body)

    # -- WMS-R and WFS -----------------------------------------------------------------------------

    def _wms(self, query: dict) -> None:
        if query.get("REQUEST") == "GetCapabilities":
            return self._send(200, self._capabilities().encode(), "text/xml")
        if query.get("REQUEST") != "GetMap" or query.get("LAYERS") not in self.fake.wms_layers:
            return self._send(200, _service_exception("LayerNotDefined"), "text/xml")
        width, height = int(query["WIDTH"]), int(query["HEIGHT"])
        limit = self.fake.wms_max or 2048
        if width > limit or height > limit or query.get("CRS") != "EPSG:2154":
            return self._send(200, _service_exception("InvalidDimensionValue"), "application/vnd.ogc.se_xml")
        bounds = tuple(float(v) for v in query["BBOX"].split(","))
        self._send(200, geotiff(bounds, width, height), "image/geotiff")

    def _capabilities(self) -> str:
        limits = (
            f"<MaxWidth>{self.fake.wms_max}</MaxWidth><MaxHeight>{self.fake.wms_max}</MaxHeight>"
            if self.fake.wms_max
            else ""
        )
        layers = "".join(
            f'<Layer queryable="0"><Name>{escape(name)}</Name><Title>{escape(name)}</Title>'
            + "".join(f"<Style><Name>{s}</Name><Title>{s}</Title></Style>" for s in styles)
            + "</Layer>"
            for name, styles in self.fake.wms_layers.items()
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<WMS_Capabilities version="1.3.0" xmlns="http://www.opengis.net/wms">'
            f"<Service><Name>WMS</Name><Title>WMS-R</Title>{limits}</Service>"
            "<Capability><Request><GetMap><Format>image/jpeg</Format><Format>image/png</Format>"
            "<Format>image/geotiff</Format></GetMap></Request>"
            "<Layer><Title>Géoplateforme</Title><CRS>EPSG:4326</CRS><CRS>EPSG:2154</CRS>"
            "<EX_GeographicBoundingBox><westBoundLongitude>-6</westBoundLongitude>"
            "<eastBoundLongitude>10</eastBoundLongitude><southBoundLatitude>41</southBoundLatitude>"
            "<northBoundLatitude>52</northBoundLatitude></EX_GeographicBoundingBox>"
            f"{layers}</Layer></Capability></WMS_Capabilities>"
        )

    def _wfs(self, query: dict) -> None:
        if query.get("TYPENAMES") != WFS_LAYER or query.get("OUTPUTFORMAT") != "application/json":
            return self._send(400, b"bad request", "text/plain")
        features = []
        for code, (x0, y0, x1, y1) in self.fake.departements.items():
            if "BBOX" in query:
                bx0, by0, bx1, by1 = (float(v) for v in query["BBOX"].split(",")[:4])
                if not (x0 < bx1 and bx0 < x1 and y0 < by1 and by0 < y1):
                    continue
            ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
            features.append(
                {
                    "type": "Feature",
                    "properties": {self.fake.code_property: code, "nom_officiel": f"Département {code}"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            )
        start, count = int(query.get("STARTINDEX", 0)), int(query.get("COUNT", 1000))
        body = json.dumps({"type": "FeatureCollection", "features": features[start : start + count]})
        self._send(200, body.encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


def _service_exception(code: str) -> bytes:
    return (
        '<?xml version="1.0"?><ServiceExceptionReport version="1.3.0" xmlns="http://www.opengis.net/ogc">'
        f'<ServiceException code="{code}">{code}</ServiceException></ServiceExceptionReport>'
    ).encode()


# -- builders ------------------------------------------------------------------------------------


def geotiff(bounds, width: int, height: int) -> bytes:
    """An RGB uint8 GeoTIFF whose pixels encode their position (so that mosaics can be checked)."""
    from rasterio.io import MemoryFile
    from rasterio.transform import from_bounds

    x0, y0, x1, y1 = bounds
    xs = np.linspace(x0, x1, width, endpoint=False)
    ys = np.linspace(y1, y0, height, endpoint=False)
    xx, yy = np.meshgrid(xs, ys)
    data = np.stack([(xx / 50) % 256, (yy / 50) % 256, np.full_like(xx, 128)]).astype("uint8")
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_bounds(*bounds, width, height),
    )
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(data)
        return memory.read()


def jp2_dalle(path: Path, left_km: int, top_km: int, px: int = 50) -> Path:
    """A 5 km JPEG2000 dalle (EPSG:2154) whose left and top edges are at the given kilometres."""
    import rasterio.shutil
    from rasterio.io import MemoryFile

    bounds = (left_km * 1000, top_km * 1000 - 5000, left_km * 1000 + 5000, top_km * 1000)
    path.parent.mkdir(parents=True, exist_ok=True)
    with MemoryFile(geotiff(bounds, px, px)) as memory, memory.open() as src:
        rasterio.shutil.copy(src, path, driver="JP2OpenJPEG", QUALITY="100", REVERSIBLE="YES")
    return path


def seven_zip(members: dict[str, bytes | Path]) -> bytes:
    """A 7z archive holding ``members`` (archive name -> bytes or a file to add)."""
    import py7zr

    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        for name, content in members.items():
            if isinstance(content, Path):
                archive.write(content, name)
            else:
                archive.writestr(content, name)
    return buffer.getvalue()


def renamed_7z(content: bytes, name: str) -> bytes:
    """A 7z whose only member is called ``name`` verbatim (``../x``, ``/etc/x``): py7zr refuses
    to write such names, so the member is renamed in the header before it is written."""
    import py7zr

    buffer = io.BytesIO()
    archive = py7zr.SevenZipFile(buffer, "w")
    archive.writestr(content, "placeholder")
    archive.header.files_info.files[0]["filename"] = name
    archive.close()
    return buffer.getvalue()


def symlink_7z(tmp: Path, name: str, points_to: str) -> bytes:
    """A 7z holding a symbolic link ``name`` -> ``points_to``."""
    import py7zr

    link = tmp / "link"
    link.symlink_to(points_to)
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", dereference=False) as archive:
        archive.write(link, name)
    link.unlink()
    return buffer.getvalue()


def split_volumes(data: bytes, count: int) -> list[bytes]:
    """A 7z split into ``count`` volumes (``.7z.001``...), as IGN publishes large deliveries."""
    step = math.ceil(len(data) / count)
    return [data[i : i + step] for i in range(0, len(data), step)]


def md5_file(name: str, files: dict[str, bytes]) -> bytes:
    """IGN's checksum file: ``<md5> <delivery>/<file>`` per line."""
    return "".join(f"{hashlib.md5(d).hexdigest()} {name}/{f}\n" for f, d in files.items()).encode()


def ortho_delivery(
    tmp: Path,
    dept: str,
    year: int,
    dalles: list[tuple[int, int]],
    version: str = "2-0",
    resolution: str = "0M50",
    volumes: int = 1,
    md5: bool = True,
    extra: dict | None = None,
) -> FakeDelivery:
    """A BD ORTHO delivery in IGN's layout, its dalles named ``DD-YYYY-XXXX-YYYY-LA93-0M50-E080``."""
    zone = "D" + dept.rjust(3, "0")
    name = f"BDORTHO_{version}_RVB-{resolution}_JP2-E080_LAMB93_{zone}_{year}-01-01"
    inner = f"BDO_RVB_{resolution}_JP2-E080_LAMB93_D{dept}-{year}"
    base = f"{name}/BDORTHO/1_DONNEES_LIVRAISON_{year + 1}-06-00123/{inner}"
    members: dict[str, bytes | Path] = {}
    for left, top in dalles:
        dalle = f"{dept}-{year}-{left:04d}-{top:04d}-LA93-{resolution}-E080.jp2"
        members[f"{base}/{dalle}"] = jp2_dalle(tmp / name / dalle, left, top)
    members[f"{name}/BDORTHO/2_METADONNEES_LIVRAISON_{year + 1}-06-00123/{inner}/metadata.xml"] = b"<md/>"
    members.update(extra or {})
    return _delivery("BDORTHO", name, zone, f"{year}-01-01", seven_zip(members), volumes, md5)


def topo_delivery(
    tmp: Path,
    dept: str,
    edition: str,
    layers: dict,
    version: str = "3-4",
    volumes: int = 1,
) -> FakeDelivery:
    """A BD TOPO GPKG delivery: one GeoPackage with ``layers`` (name -> (geometries, columns))."""
    import geopandas as gpd

    zone = "D" + dept.rjust(3, "0")
    name = f"BDTOPO_{version}_TOUSTHEMES_GPKG_LAMB93_{zone}_{edition}"
    inner = f"BDT_{version}_GPKG_LAMB93_{zone}-ED{edition}"
    gpkg = tmp / name / f"{inner}.gpkg"
    gpkg.parent.mkdir(parents=True, exist_ok=True)
    for layer, (geometries, columns) in layers.items():
        gpd.GeoDataFrame(columns, geometry=list(geometries), crs="EPSG:2154").to_file(gpkg, layer=layer)
    archive = seven_zip({f"{name}/BDTOPO/1_DONNEES_LIVRAISON_2024-12-00134/{inner}/{inner}.gpkg": gpkg})
    return _delivery("BDTOPO", name, zone, edition, archive, volumes, True)


def topo2_delivery(tmp: Path, dept: str, edition: str, layers: dict, version: str = "2-2") -> FakeDelivery:
    """A BD TOPO 2.x SHP delivery in IGN's layout (``BDTOPO_2-2_TOUSTHEMES_SHP_LAMB93_D022_2018-09-25/
    BDTOPO/1_DONNEES_LIVRAISON_2018-11-00144/BDT_2-2_SHP_LAMB93_D022-ED182/E_BATI/...SHP``)."""
    from tests.synthetic import write_bdtopo2

    zone = "D" + dept.rjust(3, "0")
    name = f"BDTOPO_{version}_TOUSTHEMES_SHP_LAMB93_{zone}_{edition}"
    inner = f"BDT_{version}_SHP_LAMB93_{zone}-ED{edition[2:4]}{1 + int(edition[5:7]) // 4}"
    base = f"{name}/BDTOPO/1_DONNEES_LIVRAISON_{edition[:7]}-00144/{inner}"
    folder = tmp / name
    write_bdtopo2(folder, layers)
    members: dict[str, bytes | Path] = {
        f"{base}/{f.relative_to(folder).as_posix()}": f for f in sorted(folder.rglob("*")) if f.is_file()
    }
    return _delivery("BDTOPO", name, zone, edition, seven_zip(members), 1, True)


def _delivery(
    resource: str, name: str, zone: str, edition: str, archive: bytes, volumes: int, md5: bool
) -> FakeDelivery:
    if volumes > 1:
        files = {f"{name}.7z.{i + 1:03d}": part for i, part in enumerate(split_volumes(archive, volumes))}
    else:
        files = {f"{name}.7z": archive}
    if md5:
        files[f"{name}.md5"] = md5_file(name, files)
    files["readme.pdf"] = b"%PDF-1.4 readme"
    return FakeDelivery(resource, name, zone, edition, files)


def listed_only(resource: str, name: str, zone: str, edition: str) -> FakeDelivery:
    """A delivery that appears in the index feed only (other years, IRC, mosaic graphs...)."""
    return FakeDelivery(resource, name, zone, edition, {f"{name}.7z": b"not used"})


# -- a whole département ---------------------------------------------------------------------------

DEPT54 = (900000.0, 6845000.0, 910000.0, 6850000.0)  # two 5 km dalles side by side
DEPT57 = (910000.0, 6845000.0, 920000.0, 6850000.0)


def topo_layers(bounds=DEPT54) -> dict:
    """A few BD TOPO v3 features inside ``bounds``: buildings, a road, a wood."""
    import shapely

    x0, y0, _, _ = bounds
    return {
        "batiment": (
            [
                shapely.box(x0 + 200, y0 + 200, x0 + 400, y0 + 350),
                shapely.box(x0 + 6100, y0 + 2100, x0 + 6300, y0 + 2250),
            ],
            {"nature": ["Indifférenciée", "Religieux"], "usage_1": ["Résidentiel", "Religieux"]},
        ),
        "troncon_de_route": (
            [shapely.LineString([(x0, y0 + 2500), (x0 + 10000, y0 + 2500)])],
            {"nature": ["Route à 1 chaussée"], "largeur_de_chaussee": [8.0]},
        ),
        "zone_de_vegetation": (
            [shapely.box(x0 + 3000, y0 + 3000, x0 + 4500, y0 + 4500)],
            {"nature": ["Bois"]},
        ),
    }


def topo2_layers(bounds=DEPT54) -> dict:
    """The same few features in the BD TOPO 2.x model: BATI_INDIFFERENCIE, BATI_REMARQUABLE (a
    church), ROUTE with NATURE/LARGEUR, ZONE_VEGETATION; and H_ADMINISTRATIF/COMMUNE."""
    import shapely

    x0, y0, _, _ = bounds
    return {
        "bati_indifferencie": ([shapely.box(x0 + 200, y0 + 200, x0 + 400, y0 + 350)], {"hauteur": [7]}),
        "bati_remarquable": (
            [shapely.box(x0 + 6100, y0 + 2100, x0 + 6300, y0 + 2250)],
            {"nature": ["Eglise"]},
        ),
        "route": (
            [shapely.LineString([(x0, y0 + 2500), (x0 + 10000, y0 + 2500)])],
            {"nature": ["Route à 1 chaussée"], "largeur": [8.0], "pos_sol": [0]},
        ),
        "zone_vegetation": ([shapely.box(x0 + 3000, y0 + 3000, x0 + 4500, y0 + 4500)], {"nature": ["Bois"]}),
        "commune": ([shapely.box(*bounds)], {"nom": ["Nancy"]}),  # not a class: not extracted
    }


def populate_dept54(server: FakeGeoplateforme, tmp: Path, volumes: int = 3) -> dict[str, FakeDelivery]:
    """Département 54 as IGN publishes it, with the noise a real feed has.

    BD ORTHO: 2015 v2-0 RVB 0M50 (two dalles, ``volumes`` volumes, .md5) is the one to choose; the
    feed also lists 2015 v1-0, 2015 0M20, IRC editions (60 of them, so the feed has two pages and
    the right one is on page 2), 2018, a mosaic graph, and département 57. BD TOPO: v3 editions
    start in 2019: v3-0 2019-03-15 (a real GPKG), v3-3 2023-06-15; before, the 2.x data model
    in Shapefiles: v2-2 2016-06-15 (a real SHP delivery, nearest to 2015) and v2-1 2012-03-26
    (listed only); a v3-0 SHP edition (not read: v3 comes as GPKG). WMS-R: year 2015, periods
    2000-2005 and 1950-1965, an IRC layer. WFS: départements 54 and 57.
    """
    x0, y0 = int(DEPT54[0] // 1000), int(DEPT54[3] // 1000)
    for year in range(1940, 2000):
        server.add(
            listed_only(
                "BDORTHO", f"BDORTHO_1-0_IRC-0M50_JP2-E080_LAMB93_D054_{year}-01-01", "D054", f"{year}-01-01"
            )
        )
    chosen = server.add(ortho_delivery(tmp, "54", 2015, [(x0, y0), (x0 + 5, y0)], volumes=volumes))
    for name in (
        "BDORTHO_1-0_RVB-0M50_JP2-E080_LAMB93_D054_2015-01-01",
        "BDORTHO_2-0_RVB-0M20_JP2-E080_LAMB93_D054_2015-01-01",
        "BDORTHO_2-0_IRC-0M20_JP2-E080_LAMB93_D054_2015-01-01",
        "BDORTHO_2-0_RVB-0M20_JP2-E080_LAMB93_D054_2018-01-01",
        "BDORTHO_2-0_GRAPHE-MOSAIQUAGE_LAMB93_D054_2015-01-01",
    ):
        server.add(listed_only("BDORTHO", name, "D054", name[-10:]))
    server.add(
        listed_only("BDORTHO", "BDORTHO_2-0_RVB-0M50_JP2-E080_LAMB93_D057_2015-01-01", "D057", "2015-01-01")
    )
    topo = server.add(topo_delivery(tmp, "54", "2019-03-15", topo_layers(), version="3-0"))
    topo2 = server.add(topo2_delivery(tmp, "54", "2016-06-15", topo2_layers(), version="2-2"))
    for name in (
        "BDTOPO_3-3_TOUSTHEMES_GPKG_LAMB93_D054_2023-06-15",
        "BDTOPO_2-1_TOUSTHEMES_SHP_LAMB93_D054_2012-03-26",
        "BDTOPO_3-0_TOUSTHEMES_SHP_LAMB93_D054_2015-06-15",
    ):
        server.add(listed_only("BDTOPO", name, "D054", name[-10:]))
    server.wms_layers = {
        "ORTHOIMAGERY.ORTHOPHOTOS2015": ["normal"],
        "ORTHOIMAGERY.ORTHOPHOTOS2000-2005": ["normal"],
        "ORTHOIMAGERY.ORTHOPHOTOS.1950-1965": ["BDORTHOHISTORIQUE", "normal"],
        "ORTHOIMAGERY.ORTHOPHOTOS.IRC.2015": ["normal"],
    }
    server.departements = {"54": DEPT54, "57": DEPT57}
    return {"ortho": chosen, "topo": topo, "topo2": topo2}


DEPT67 = (920000.0, 6845000.0, 930000.0, 6850000.0)
THREE_DEPTS = {"54": DEPT54, "57": DEPT57, "67": DEPT67}  # side by side, each two dalles wide


def populate_departements(
    server: FakeGeoplateforme, tmp: Path, depts: dict = THREE_DEPTS, years=(2015, 2019), volumes: int = 2
) -> dict[str, list[FakeDelivery]]:
    """Several départements side by side, each as IGN publishes it: a BD ORTHO RVB 0M50 delivery
    per year (two 5 km dalles, ``volumes`` volumes) and a BD TOPO v3 GeoPackage of 2019-03-15
    (labels for 2019 only, the 2015 image being 3.7 years away). Returns each one's deliveries."""
    made = {}
    for code, bounds in depts.items():
        x0, y0 = int(bounds[0] // 1000), int(bounds[3] // 1000)
        dalles = [(x0, y0), (x0 + 5, y0)]
        made[code] = [
            server.add(ortho_delivery(tmp, code, year, dalles, volumes=volumes)) for year in years
        ] + [server.add(topo_delivery(tmp, code, "2019-03-15", topo_layers(bounds), version="3-0"))]
    server.departements = dict(depts)
    return made
