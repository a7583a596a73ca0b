"""Safe 7z extraction: volumes, chosen members only, unsafe members refused, failures cleaned."""

import io
import os
import re

import pytest

from geosiam.errors import ArchiveError
from geosiam.sources.archives import MARKER, Volumes, extract, list_members
from tests.fake_geoplateforme import renamed_7z, seven_zip, split_volumes, symlink_7z

MEMBERS = {
    "D/BDORTHO/1_DONNEES/a.jp2": os.urandom(40_000),
    "D/BDORTHO/1_DONNEES/b.jp2": os.urandom(30_000),
    "D/BDORTHO/2_METADONNEES/meta.xml": b"<m/>",
}


def write_parts(folder, data, count):
    folder.mkdir(parents=True, exist_ok=True)
    if count == 1:
        path = folder / "D.7z"
        path.write_bytes(data)
        return [path]
    parts = []
    for i, chunk in enumerate(split_volumes(data, count)):
        parts.append(folder / f"D.7z.{i + 1:03d}")
        parts[-1].write_bytes(chunk)
    return parts


def jp2s(names):
    return [n for n in names if n.endswith(".jp2")]


@pytest.mark.parametrize("volumes", [1, 3])
def test_extracts_only_the_chosen_members(tmp_path, volumes):
    parts = write_parts(tmp_path / "dl", seven_zip(MEMBERS), volumes)
    paths = extract(parts, tmp_path / "out", lambda names: [n for n in names if n.endswith("a.jp2")])
    assert paths == [tmp_path / "out" / "D/BDORTHO/1_DONNEES/a.jp2"]
    assert paths[0].read_bytes() == MEMBERS["D/BDORTHO/1_DONNEES/a.jp2"]
    assert not (tmp_path / "out" / "D/BDORTHO/1_DONNEES/b.jp2").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dl", "out"]  # no scratch folder left


def test_a_later_run_extracts_only_what_is_missing(tmp_path):
    parts = write_parts(tmp_path / "dl", seven_zip(MEMBERS), 2)
    (tmp_path / ".out.0badc0de.partial" / "D").mkdir(parents=True)  # left by a run that was killed
    first = extract(parts, tmp_path / "out", lambda names: [n for n in names if n.endswith("a.jp2")])
    stamp = first[0].stat().st_mtime_ns
    both = extract(parts, tmp_path / "out", jp2s)
    assert [p.name for p in both] == ["a.jp2", "b.jp2"]
    assert first[0].stat().st_mtime_ns == stamp  # kept, not extracted again
    both[1].write_bytes(b"damaged")  # a file that no longer matches the archive is replaced
    extract(parts, tmp_path / "out", jp2s)
    assert both[1].read_bytes() == MEMBERS["D/BDORTHO/1_DONNEES/b.jp2"]
    assert (tmp_path / "out" / MARKER).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dl", "out"]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("../evil.txt", "climbs out"),
        ("D/../../evil.txt", "climbs out"),
        ("/tmp/evil.txt", "absolute path"),
    ],
)
def test_members_leaving_the_target_refuse_the_archive(tmp_path, name, reason):
    parts = write_parts(tmp_path / "dl", renamed_7z(b"evil", name), 1)
    with pytest.raises(ArchiveError, match=re.escape(f"'{name}'") + f" .*{reason}.*refusing the archive"):
        extract(parts, tmp_path / "out" / "x", lambda names: names)
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_links_refuse_the_archive(tmp_path):
    parts = write_parts(tmp_path / "dl", symlink_7z(tmp_path, "D/a.jp2", "/etc/passwd"), 1)
    with pytest.raises(ArchiveError, match="'D/a.jp2' is a link"):
        extract(parts, tmp_path / "out", lambda names: names)
    assert not (tmp_path / "out").exists()


def test_damaged_archive_is_a_clear_error_and_leaves_nothing(tmp_path):
    data = bytearray(seven_zip(MEMBERS))
    data[200:400] = bytes(200)  # inside the packed streams: the header still lists the members
    parts = write_parts(tmp_path / "dl", bytes(data), 2)
    damaged = r"the archive is damaged( or incomplete)?: delete \S+dl and run again"
    with pytest.raises(ArchiveError, match=damaged):
        extract(parts, tmp_path / "out", jp2s)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dl"]


def test_missing_volume_is_a_clear_error(tmp_path):
    parts = write_parts(tmp_path / "dl", seven_zip(MEMBERS), 3)
    with pytest.raises(ArchiveError, match="cannot be read"):
        extract(parts[:2], tmp_path / "out", jp2s)


def test_volumes_read_across_boundaries(tmp_path):
    data = os.urandom(10_000)
    parts = write_parts(tmp_path, data, 4)
    with Volumes(parts) as stream:
        stream.seek(2400)
        assert stream.read(500) == data[2400:2900]
        stream.seek(-100, io.SEEK_END)
        assert stream.read() == data[-100:]
        assert stream.tell() == len(data)


def test_list_members_reports_sizes(tmp_path):
    parts = write_parts(tmp_path, seven_zip(MEMBERS), 1)
    listed = {m.name: m.size for m in list_members(parts)}
    assert listed == {k: len(v) for k, v in MEMBERS.items()}
