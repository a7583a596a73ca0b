"""Label resolution: the gap, the no-shared-edition rule and the modes, on plain candidates."""

import math
from pathlib import Path

import pytest

from geosiam.errors import SettingsError
from geosiam.sources.labels import Candidate, apply_plan, candidate_of, gap_years, plan_labels, resolve_labels
from geosiam.sources.sourceset import YearSources

V3_2019 = Candidate("2019-03-15", "2019-03-15", "3")
V2_2014 = Candidate("2014-06-15", "2014-06-15", "2")


def test_gap_is_signed_years_from_mid_year_and_zero_when_unknown():
    assert gap_years(2015, "2019-03-15") == pytest.approx(3.7, abs=0.01)
    assert gap_years(2015, "2014-06-15") == pytest.approx(-1.04, abs=0.01)
    assert gap_years(2004, "") == 0.0


def test_both_years_within_the_gap_resolve_to_both():
    plan = resolve_labels({2015: V2_2014, 2019: V3_2019}, "auto", 3.0)
    assert plan.mode == "both"
    assert plan.years[2015].source == "2014-06-15" and plan.years[2015].version == "2"
    assert plan.years[2019].gap_years == pytest.approx(-0.3, abs=0.01)


def test_a_year_beyond_the_gap_has_no_labels_and_auto_falls_to_newer():
    plan = resolve_labels({2004: V2_2014, 2015: Candidate("2016-06-15", "2016-06-15", "2")}, "auto", 3.0)
    assert plan.mode == "newer"
    older = plan.years[2004]
    assert not older.labelled and math.isnan(older.gap_years)
    assert "2014-06-15, is +10.0 years from the image, beyond --max-label-gap 3" in older.reason
    assert plan.years[2015].labelled


def test_two_years_never_share_one_edition_the_older_loses_it():
    plan = resolve_labels({2017: V3_2019, 2020: V3_2019}, "auto", 5.0)
    assert plan.mode == "newer"
    assert plan.years[2020].labelled
    assert not plan.years[2017].labelled and "also 2020's" in plan.years[2017].reason


def test_only_the_older_year_labelled_resolves_to_none():
    plan = resolve_labels({2015: V2_2014, 2030: V3_2019}, "auto", 3.0)
    assert plan.mode == "none"
    assert not plan.years[2015].labelled and "--labels auto" in plan.years[2015].reason
    assert "beyond --max-label-gap" in plan.years[2030].reason


def test_no_candidate_means_no_labels():
    plan = resolve_labels({2006: None, 2015: Candidate("topo.gpkg")}, "auto", 3.0)
    assert plan.mode == "newer" and plan.years[2015].gap_years == 0.0
    assert plan.years[2006].reason == "no vectors for this year"


def test_both_when_a_year_lacks_labels_is_a_one_line_error():
    message = r"--labels both needs labels for 2006.*use --labels auto or newer"
    with pytest.raises(SettingsError, match=message):
        resolve_labels({2006: V2_2014, 2015: V2_2014}, "both", 3.0)


def test_newer_when_the_newer_year_lacks_labels_is_an_error():
    with pytest.raises(SettingsError, match=r"--labels newer needs labels for 2030.*auto or none"):
        resolve_labels({2015: V2_2014, 2030: V3_2019}, "newer", 3.0)
    with pytest.raises(SettingsError, match=r"--labels both needs labels for 2030.*auto or none"):
        resolve_labels({2015: V2_2014, 2030: V3_2019}, "both", 3.0)


def test_newer_and_none_drop_labels():
    newer = resolve_labels({2015: V2_2014, 2019: V3_2019}, "newer", 3.0)
    assert newer.mode == "newer" and not newer.years[2015].labelled and newer.years[2019].labelled
    assert "newer year's labels only" in newer.years[2015].reason
    none = resolve_labels({2015: V2_2014, 2019: V3_2019}, "none", 3.0)
    assert none.mode == "none" and not any(y.labelled for y in none.years.values())


def test_year_sources_are_resolved_and_unlabelled_vectors_dropped():
    records = [
        YearSources(2006, (Path("a.jp2"),), (Path("t.gpkg"),), label_date="2019-03-15", label_version="3"),
        YearSources(2015, (Path("b.jp2"),), (Path("u.shp"),), label_date="2014-06-15", label_version="2"),
        YearSources(2015, (Path("c.jp2"),), (Path("v.shp"),), label_date="2014-06-15", label_version="2"),
    ]
    plan = plan_labels(records, [2006, 2015], "auto", 3.0)
    assert plan.mode == "newer" and plan.years[2015].source == "2014-06-15"
    kept = apply_plan(records, plan)
    assert [r.vectors for r in kept] == [(), (Path("u.shp"),), (Path("v.shp"),)]


def test_local_files_are_their_own_source_and_the_same_file_is_shared():
    same = [
        YearSources(2000, (Path("a.tif"),), (Path("t.gpkg"),), label_name="t.gpkg"),
        YearSources(2015, (Path("b.tif"),), (Path("t.gpkg"),), label_name="t.gpkg"),
    ]
    assert candidate_of(same[:1]) == Candidate("t.gpkg", "", "")
    plan = plan_labels(same, [2000, 2015], "auto", 3.0)
    assert plan.mode == "newer" and "also 2015's" in plan.years[2000].reason
