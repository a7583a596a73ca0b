"""Small helpers shared by the readers of IGN's XML documents (Atom feeds, WMS capabilities)."""

from __future__ import annotations


def local_name(tag: str) -> str:
    """An XML tag without its namespace: ``{http://www.w3.org/2005/Atom}entry`` -> ``entry``.

    IGN's documents mix namespaces (Atom, ``gpf_dl``, WMS); matching local names keeps the readers
    independent of prefixes and of namespace URIs that moved between versions.
    """
    return tag.rsplit("}", 1)[-1]


def children(node, name: str) -> list:
    """The direct children of ``node`` with local name ``name`` (none when ``node`` is None)."""
    return [] if node is None else [c for c in node if local_name(c.tag) == name]


def child(node, name: str):
    """The first direct child named ``name``, or None."""
    found = children(node, name)
    return found[0] if found else None


def to_int(value: str | None) -> int | None:
    """``int(value)``, or None when it is missing or not a number."""
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None
