"""The Atom feeds of IGN's download service (``{ign_url}/telechargement``; README, "Real IGN data").

``resource/{BDORTHO|BDTOPO}?zone=D054&page=N&limit=50`` lists the deliveries of a product (paged
from 1, at most 50 a page, the root carrying ``gpf_dl:pagecount`` and ``gpf_dl:totalentries``);
``resource/{product}/{delivery}`` lists its files (7z volumes, a ``.md5``), each ``<link>`` giving
its ``length``; ``download/{product}/{delivery}/{file}`` serves a file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from geosiam.errors import DownloadError
from geosiam.progress import progress
from geosiam.sources import departements
from geosiam.sources.download import HttpClient, format_bytes
from geosiam.sources.ign.deliveries import (
    ORTHO,
    TOPO,
    TOPO_FORMATS,
    Delivery,
    DeliveryFile,
    archive_parts,
    is_label_edition,
    parse_delivery,
)
from geosiam.sources.ogc import local_name, to_int

PAGE_LIMIT = 50  # the service's maximum; larger values are clamped by the server

ATOM_ACCEPT = "application/atom+xml, application/xml;q=0.9"


@dataclass(frozen=True)
class FeedEntry:
    """One ``<entry>`` of a resource feed."""

    title: str
    href: str = ""
    type: str = ""
    length: int | None = None
    zone: str = ""
    edition_date: str = ""


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    pagecount: int | None = None
    totalentries: int | None = None
    has_next: bool = False


def parse_feed(text: str | bytes) -> FeedPage:
    """The entries and paging attributes of one page of an Atom resource feed."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DownloadError(
            f"IGN's download service did not answer an Atom feed ({exc}): check --ign-url"
        ) from None
    if local_name(root.tag) != "feed":
        raise DownloadError(
            f"IGN's download service answered <{local_name(root.tag)}>, not an Atom feed: check --ign-url"
        )
    attributes = {local_name(k): v for k, v in root.attrib.items()}
    entries = [_entry(node) for node in root if local_name(node.tag) == "entry"]
    has_next = any(local_name(n.tag) == "link" and n.get("rel") == "next" for n in root)
    return FeedPage(
        entries, to_int(attributes.get("pagecount")), to_int(attributes.get("totalentries")), has_next
    )


def _entry(node) -> FeedEntry:
    title = zone = edition = ""
    links = []
    for child in node:
        name = local_name(child.tag)
        if name == "title":
            title = (child.text or "").strip()
        elif name == "link" and child.get("href"):
            links.append(child)
        elif name == "zone":
            zone = child.get("term") or (child.text or "").strip()
        elif name == "editionDate":
            edition = (child.text or "").strip()
    link = _main_link(links)
    return FeedEntry(
        title=title,
        href=link.get("href", "") if link is not None else "",
        type=link.get("type", "") if link is not None else "",
        length=to_int(link.get("length")) if link is not None else None,
        zone=zone,
        edition_date=edition,
    )


def _main_link(links: list):
    """The link to the entry's content: one with a length, else the first that is not 'self'."""
    with_length = [link for link in links if link.get("length")]
    if with_length:
        return with_length[0]
    others = [link for link in links if link.get("rel") not in ("self", "related", "describedby")]
    return (others or links or [None])[0]


def read_feed(client: HttpClient, url: str, params: dict | None = None) -> list[FeedEntry]:
    """Every entry of a paged feed, page 1 to the last (``pagecount``, ``totalentries`` or 'next')."""
    entries: dict[str, FeedEntry] = {}
    page = 1
    while True:
        query = {**(params or {}), "page": str(page), "limit": str(PAGE_LIMIT)}
        result = parse_feed(client.get(url, query, {"Accept": ATOM_ACCEPT}).content)
        for entry in result.entries:
            entries.setdefault(entry.title or entry.href, entry)
        if not result.entries:
            break
        if result.pagecount is not None:
            more = page < result.pagecount
        elif result.totalentries is not None:
            more = len(entries) < result.totalentries
        else:
            more = result.has_next
        if not more:
            break
        page += 1
    return list(entries.values())


def resource_url(ign_url: str, *parts: str) -> str:
    return "/".join([ign_url.rstrip("/"), "telechargement", "resource", *parts])


def list_deliveries(client: HttpClient, ign_url: str, resource: str, zone: str) -> list[Delivery]:
    """The deliveries of ``resource`` for ``zone`` (e.g. D054), from all pages of its feed.

    BD TOPO: only the formats geosiam reads (:data:`TOPO_FORMATS`), one filtered feed each.
    """
    queries = [{"zone": zone, "format": f} for f in TOPO_FORMATS] if resource == TOPO else [{"zone": zone}]
    found = []
    for params in queries:
        for entry in read_feed(client, resource_url(ign_url, resource), params):
            delivery = parse_delivery(resource, entry.title)
            if delivery is not None and delivery.zone == zone:
                found.append(delivery)
    return found


def delivery_files(client: HttpClient, ign_url: str, delivery: Delivery) -> list[DeliveryFile]:
    """The files of a delivery (7z volumes, .md5, readme) with their URLs and lengths."""
    files = []
    for entry in read_feed(client, resource_url(ign_url, delivery.resource, delivery.name)):
        name = unquote(urlsplit(entry.href).path.rsplit("/", 1)[-1]) if entry.href else entry.title
        name = name or entry.title
        default = "/".join(
            [ign_url.rstrip("/"), "telechargement", "download", delivery.resource, delivery.name, name]
        )
        files.append(DeliveryFile(name, _service_url(entry.href, ign_url, default), entry.length))
    return files


def _service_url(href: str, ign_url: str, default: str) -> str:
    """``href`` moved under ``ign_url`` (feeds name IGN's own host), else ``default``."""
    root = ign_url.rstrip("/")
    if not href:
        return default
    if href.startswith(root + "/"):
        return href
    parts = urlsplit(href)
    at = parts.path.find("/telechargement/")
    if at >= 0:
        return root + parts.path[at:] + (f"?{parts.query}" if parts.query else "")
    if not parts.scheme and href.startswith("/"):
        return root + href
    return default


@dataclass(frozen=True)
class Edition:
    """One line of ``geosiam sources``: a delivery and its size."""

    code: str
    delivery: Delivery
    size: int | None  # bytes of its 7z parts; None when the feed gives no lengths


def list_editions(client: HttpClient, ign_url: str, codes: list[str], sizes: bool = True) -> list[Edition]:
    """The RGB BD ORTHO and BD TOPO editions (GPKG, 2.x SHP) of each département, with sizes."""
    ign_url = ign_url.rstrip("/")
    found = []
    for code in codes:
        zone = departements.zone_of(code)
        found += [(code, d) for d in list_deliveries(client, ign_url, ORTHO, zone) if d.bands == "RVB"]
        found += [(code, d) for d in list_deliveries(client, ign_url, TOPO, zone) if is_label_edition(d)]
    editions = []
    for code, delivery in progress(found, desc="IGN feeds", unit="delivery"):
        size = None
        if sizes:
            lengths = [f.length for f in archive_parts(delivery, delivery_files(client, ign_url, delivery))]
            size = sum(lengths) if all(n is not None for n in lengths) else None
        editions.append(Edition(code, delivery, size))
    return editions


def describe_size(size: int | None) -> str:
    return "?" if size is None else format_bytes(size)
