"""Which labels (vector editions) make each year's masks, and which years get none.

Every source hands over, per year, the edition nearest in time that it found (its date, data
model and name, on :class:`~geosiam.sources.sourceset.YearSources`). This module decides, with
pure functions, what becomes of them:

- a year whose nearest edition is further from the image than ``max_gap_years`` has no labels
  rather than wrong ones (a 2019 map is not a 2004 map);
- two years never share one edition: identical masks would make mask matching trivial, so the
  older year gets none;
- the mode: ``auto`` is ``both`` when both years have labels, ``newer`` when only the newer one
  has, else ``none``; ``both`` and ``newer`` are errors when the years they need have none;
  ``newer`` and ``none`` drop the older (all) years' labels.

An edition date of "" is unknown: the vectors are taken as the image year's own (gap 0), as for a
user's ``--topo YEAR=PATH`` where the user said which year they belong to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

from geosiam.errors import SettingsError
from geosiam.sources.sourceset import YearSources, by_year

DAYS_PER_YEAR = 365.2425


@dataclass(frozen=True)
class Candidate:
    """A year's nearest label edition, as its source found it."""

    source: str  # the edition date or the file(s): names it, and tells two editions apart
    date: str = ""  # ISO date of the edition; "" = unknown, taken as the image's own year
    version: str = ""  # data model: "3", "2", "" unknown


@dataclass(frozen=True)
class YearLabels:
    """The labels a year's masks are made of, or why it has none."""

    year: int
    source: str = ""  # "" = no labels
    gap_years: float = math.nan  # signed: labels minus image, in years; nan without labels
    version: str = ""
    reason: str = ""  # why there are no labels

    @property
    def labelled(self) -> bool:
        return bool(self.source)

    def describe(self) -> str:
        """One line for ``prepare``: the labels and their gap, or why there are none."""
        if not self.labelled:
            return f"{self.year}: no labels ({self.reason})"
        edition = f"BD TOPO {self.version}.x edition " if self.version else ""
        return f"{self.year}: labels from {edition}{self.source}, {self.gap_years:+.1f} years from the image"

    @classmethod
    def from_record(cls, year: int, record: dict) -> YearLabels:
        """The labels ``geosiam.toml`` recorded for ``year`` (see :meth:`record`)."""
        keys = ("source", "gap_years", "version", "reason")
        return cls(year, **{key: record[key] for key in keys if key in record})

    def record(self) -> dict:
        """What ``geosiam.toml`` keeps for this year (``[labels.years.<year>]``)."""
        return {
            "source": self.source,
            "gap_years": self.gap_years,
            "version": self.version,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class LabelPlan:
    """The resolved mode (both | newer | none) and each year's labels."""

    mode: str
    years: dict[int, YearLabels]

    def labelled(self, year: int) -> bool:
        return self.years[year].labelled


def gap_years(year: int, edition: str) -> float:
    """Signed years from the middle of survey ``year`` to ``edition`` (ISO date); 0 when unknown."""
    if not edition:
        return 0.0
    middle = date(year, 7, 1)
    return round((date.fromisoformat(edition) - middle).days / DAYS_PER_YEAR, 2)


def resolve_labels(candidates: dict[int, Candidate | None], mode: str, max_gap_years: float) -> LabelPlan:
    """Each year's labels under the gap, no-shared-edition and mode rules; errors are one line."""
    years = sorted(candidates)
    found = {year: _within_gap(year, candidates[year], max_gap_years) for year in years}
    found = _unshared(found)
    newer = years[-1]
    asked = mode
    if mode == "auto":
        mode = "both" if all(found[y].labelled for y in years) else "newer"
        mode = mode if found[newer].labelled else "none"
    needed = {"both": years, "newer": [newer], "none": []}[mode]
    instead = "newer" if mode == "both" and found[newer].labelled else "none"
    for year in needed:
        if not found[year].labelled:
            raise SettingsError(
                f"--labels {mode} needs labels for {year}, which has none ({found[year].reason}): "
                f"use --labels auto or {instead}, or a larger --max-label-gap"
            )
    dropped = {
        "auto": f"{newer} has no labels, and an older year's labels alone serve no mode (--labels auto)",
        "newer": "--labels newer keeps the newer year's labels only",
        "none": "--labels none",
    }[asked]
    return LabelPlan(
        mode,
        {
            year: found[year] if year in needed else _none(year, found[year].reason or dropped)
            for year in years
        },
    )


def _within_gap(year: int, candidate: Candidate | None, max_gap_years: float) -> YearLabels:
    if candidate is None:
        return _none(year, "no vectors for this year")
    gap = gap_years(year, candidate.date)
    if abs(gap) > max_gap_years:
        return _none(
            year,
            f"the nearest edition, {candidate.source}, is {gap:+.1f} years from the image, "
            f"beyond --max-label-gap {max_gap_years:g}",
        )
    return YearLabels(year, candidate.source, gap, candidate.version)


def _unshared(found: dict[int, YearLabels]) -> dict[int, YearLabels]:
    """Of years sharing one edition, only the newest keeps it."""
    kept: dict[str, int] = {}
    result = dict(found)
    for year in sorted(found, reverse=True):
        labels = found[year]
        if not labels.labelled:
            continue
        if labels.source in kept:
            result[year] = _none(
                year,
                f"its nearest edition, {labels.source}, is also {kept[labels.source]}'s: identical "
                "masks would make mask matching trivial",
            )
        else:
            kept[labels.source] = year
    return result


def _none(year: int, reason: str) -> YearLabels:
    return YearLabels(year, reason=reason)


# -- YearSources in, YearSources out (still pure) ---------------------------------------------------


def candidate_of(records: list[YearSources]) -> Candidate | None:
    """One year's candidate from its records (several départements: their editions together).

    A record names its edition by its vectors or, where they were not fetched because the
    year gets no labels anyway, by ``label_date`` alone: the same candidate either way.
    """
    named = [r for r in records if r.vectors or r.label_date]
    if not named:
        return None
    sources = sorted({_source_name(r) for r in named})
    versions = sorted({r.label_version for r in named})
    # the edition furthest from the image speaks for the year (départements may differ)
    furthest = max({r.label_date for r in named}, key=lambda d: abs(gap_years(named[0].year, d)))
    return Candidate(", ".join(sources), furthest, "/".join(versions))


def _source_name(record: YearSources) -> str:
    """An edition by its date; files without a date by the name the user or source gave them."""
    if record.label_date:
        return record.label_date
    if record.label_name:
        return record.label_name
    return ", ".join(str(p) for p in record.vectors)


def plan_labels(records: list[YearSources], years: list[int], mode: str, max_gap_years: float) -> LabelPlan:
    """The label plan of a workspace's source records."""
    grouped = by_year(records)
    return resolve_labels({y: candidate_of(grouped.get(y, [])) for y in years}, mode, max_gap_years)


def apply_plan(records: list[YearSources], plan: LabelPlan) -> list[YearSources]:
    """``records`` with the vectors of the years that get no labels dropped."""
    return [r if plan.labelled(r.year) else replace(r, vectors=()) for r in records]
