"""The disk budget of the download cache: the figures, and refusals that name them."""

import pytest

from geosiam.errors import SettingsError
from geosiam.sources.budget import DiskBudget, folder_bytes, gigabytes
from geosiam.sources.ign.plan import check_budget

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
