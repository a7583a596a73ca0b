"""The disk budget of the download cache: the figures, waiting for room, and refusals that name them."""

import io

import py7zr
import pytest

from geosiam.cli import main
from geosiam.config import AreaSettings, DiskSettings, GridSettings, HttpSettings, Settings, SourceSettings
from geosiam.errors import SettingsError
from geosiam.sources import budget
from geosiam.sources.budget import POLL_S, DiskBudget, folder_bytes, gigabytes
from geosiam.sources.ign.fetch import fetch_sources
from geosiam.sources.ign.plan import check_budget
from geosiam.workspace import Workspace
from tests.fake_geoplateforme import THREE_DEPTS, populate_departements

SIZES = {"54": {"a.7z.001": 4_000_000_000, "a.7z.002": 1_000_000_000}, "57": {"b.7z": 3_000_000_000}}


def test_the_cache_size_counts_every_file_below(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x").write_bytes(b"1" * 300)
    (tmp_path / "y").write_bytes(b"2" * 20)
    assert folder_bytes(tmp_path) == 320 and folder_bytes(tmp_path / "missing") == 0


def test_no_budget_and_budgets_that_fit_pass():
    check_budget(SIZES, 0, keep_downloads=True)
    check_budget(SIZES, 8.0, keep_downloads=True)  # all 8 GB kept
    check_budget(SIZES, 5.0, keep_downloads=False)  # one département at a time


@pytest.mark.parametrize(
    "max_gb, keep, message",
    [
        (3.5, False, r"--max-disk 3.5 is below the archive part a.7z.001 \(4.0 GB\).*at least 4.0 GB"),
        (4.5, False, r"below the archives of département 54 \(5.0 GB\), which are on disk together"),
        (7.0, True, r"below the 8.0 GB of archives of all 2 départements, which are kept: add --no-keep"),
    ],
)
def test_a_budget_that_cannot_be_met_is_refused_with_its_figures(max_gb, keep, message):
    with pytest.raises(SettingsError, match=message):
        check_budget(SIZES, max_gb, keep)


def test_reserving_past_the_budget_names_what_the_cache_holds(tmp_path):
    (tmp_path / "part").write_bytes(b"0" * 600)
    budget = DiskBudget.of_gb(tmp_path, 1e-6, advice=", or free it")  # 1,000 bytes
    budget.reserve(400, "downloading x")
    with pytest.raises(
        SettingsError,
        match=r"downloading y needs 5e-07 GB but the cache .* holds 6e-07 GB"
        r" of the --max-disk 1e-06 GB: raise --max-disk to at least 1.1e-06 GB, or free it",
    ):
        budget.reserve(500, "downloading y")
    assert DiskBudget.of_gb(tmp_path, 0) is None
    assert gigabytes(12.34e9) == "12.3 GB"


class Clock:
    """A clock that moves only when the budget sleeps; ``on_sleep`` runs at each sleep."""

    def __init__(self, on_sleep=lambda: None):
        self.now, self.naps, self.on_sleep = 0.0, [], on_sleep

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now += seconds
        self.on_sleep()


def waiting_budget(folder, clock: Clock, wait_s: float) -> DiskBudget:
    return DiskBudget(folder, 1_000, wait_s=wait_s, clock=clock.time, sleep=clock.sleep)


def test_a_reservation_waits_for_room_another_process_frees(tmp_path):
    other = tmp_path / "other.7z"
    other.write_bytes(b"0" * 800)
    clock = Clock(lambda: len(clock.naps) == 3 and other.unlink())  # freed at the third look
    waiting_budget(tmp_path, clock, wait_s=60).reserve(500, "downloading x")
    assert len(clock.naps) == 3 and all(0 < nap <= POLL_S for nap in clock.naps)


def test_a_reservation_refuses_once_the_wait_is_over_naming_the_figures(tmp_path):
    (tmp_path / "other.7z").write_bytes(b"0" * 800)
    clock = Clock()
    with pytest.raises(
        SettingsError,
        match=r"^downloading x needs 5e-07 GB but the cache .* holds 8e-07 GB of the --max-disk 1e-06 GB "
        r"after waiting 5 s for room: raise --max-disk to at least 1.3e-06 GB$",
    ):
        waiting_budget(tmp_path, clock, wait_s=5).reserve(500, "downloading x")
    assert sum(clock.naps) == pytest.approx(5)


def test_what_cannot_fit_in_an_empty_cache_is_refused_without_waiting(tmp_path):
    clock = Clock()
    with pytest.raises(SettingsError, match=r"needs 1.2e-06 GB but .* holds 0 GB of the --max-disk 1e-06"):
        waiting_budget(tmp_path, clock, wait_s=60).reserve(1_200, "extracting y")
    assert clock.naps == []
    waiting_budget(tmp_path, clock, wait_s=60).reserve(1_000, "extracting y")  # exactly fits
    assert clock.naps == []


# -- against the stand-in Géoplateforme ----------------------------------------------------------------


def tight(server, max_gb: float, wait_s: float) -> Settings:
    """Département 54, 2015 and 2019, one download at a time within ``max_gb``."""
    return Settings(
        years=[2015, 2019],
        grid=GridSettings(tile_size_m=1000.0, tile_px=16),
        area=AreaSettings(depts=["54"]),
        sources=SourceSettings(ign_url=server.url, http=HttpSettings(request_interval_s=0, backoff_s=0)),
        disk=DiskSettings(keep_downloads=False, max_gb=max_gb, wait_s=wait_s),
    )


def departement_54(server, tmp_path) -> int:
    """Its deliveries on the stand-in; the bytes its archives and their members take at once."""
    made = populate_departements(server, tmp_path / "src", depts={"54": THREE_DEPTS["54"]})["54"]
    parts = [data for d in made for name, data in d.files.items() if ".7z" in name]
    members = 0
    for d in made:
        volumes = b"".join(data for name, data in d.files.items() if ".7z" in name)
        with py7zr.SevenZipFile(io.BytesIO(volumes)) as archive:
            members += sum(info.uncompressed or 0 for info in archive.list() if not info.is_directory)
    return sum(map(len, parts)) + members


def test_downloads_wait_for_room_another_process_frees(geoplateforme, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(budget, "POLL_S", 0.05)
    peak = departement_54(geoplateforme, tmp_path)
    cache = Workspace(tmp_path / "ws").cache_dir
    (cache / "other").mkdir(parents=True)
    leftover = cache / "other" / "another-run.7z"
    leftover.write_bytes(b"0" * (int(1.2 * peak) - 100))  # with it, not even the downloads fit
    looks = []

    def used(self):  # another process deletes its file while the budget waits
        looks.append(self)
        if len(looks) == 2:
            leftover.unlink()
        return folder_bytes(self.folder)

    monkeypatch.setattr(DiskBudget, "used", used)
    records = fetch_sources(tight(geoplateforme, 1.2 * peak / 1e9, 30), Workspace(tmp_path / "ws"), None)
    assert {r.year for r in records} == {2015, 2019} and "waiting up to 30 s for room" in caplog.text
    assert folder_bytes(cache) <= 1.2 * peak


def test_prepare_refuses_after_waiting_in_vain(geoplateforme, tmp_path, capsys, caplog, monkeypatch):
    monkeypatch.setattr(budget, "POLL_S", 0.05)
    peak = departement_54(geoplateforme, tmp_path)
    workspace = tmp_path / "ws"
    (workspace / "cache").mkdir(parents=True)
    (workspace / "cache" / "another-run.7z").write_bytes(b"0" * (int(1.2 * peak) - 100))  # never freed
    settings = "[sources.http]\nrequest_interval_s = 0.0\n[disk]\nwait_s = 0.2\n"
    (workspace / "geosiam.toml").write_text(settings)
    limit = 1.2 * peak / 1e9
    args = ["prepare", "--dept", "54", "--years", "2015", "2019", "--ign-url", geoplateforme.url]
    args += ["--no-keep-downloads", "--max-disk", str(limit), "-w", str(workspace), "--force"]
    with pytest.raises(SystemExit) as done:
        main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2
    assert lines[-1].startswith("geosiam: error: downloading 5 IGN archive files needs ")
    assert f"of the --max-disk {limit:.3g} GB after waiting" in lines[-1]
    assert len(lines) == 1 and "waiting up to 0.2 s for room" in caplog.text  # said while it waited
    assert not geoplateforme.hits(".7z.001")
