from __future__ import annotations

import pytest

from proxy.review import charts

T = "2026-11-02T09:05:00.000Z"


@pytest.mark.parametrize(
    ("last", "unit"),
    [
        ("2026-11-02T09:50:00.000Z", charts.MINUTE),  # an hour's log: minutes
        ("2026-11-02T16:00:00.000Z", charts.TEN_MINUTES),
        ("2026-11-03T08:00:00.000Z", charts.HOUR),  # a day's log: hours
        ("2026-12-01T00:00:00.000Z", charts.DAY),  # a month's log: days
        ("2027-06-01T00:00:00.000Z", charts.MONTH),
    ],
)
def test_bucket_follows_the_span(last: str, unit: int) -> None:
    assert charts.time_unit(T, last) == unit
    assert 2 <= len(charts.time_buckets(T, last, unit)) <= 100


def test_buckets_cover_the_span_including_empty_ones() -> None:
    labels = charts.time_buckets(T, "2026-11-02T10:41:00.000Z", charts.TEN_MINUTES)
    assert labels[0] == "2026-11-02T09:0"
    assert labels[-1] == "2026-11-02T10:4"
    assert len(labels) == 11  # 09:00 .. 10:40, every ten minutes
    days = charts.time_buckets(T, "2026-11-05T01:00:00.000Z", charts.DAY)
    assert days == ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    months = charts.time_buckets(T, "2027-01-01T00:00:00.000Z", charts.MONTH)
    assert months == ["2026-11", "2026-12", "2027-01"]


@pytest.mark.parametrize(
    ("bucket", "label"),
    [
        ("2026-11-02T09:07", "11-02 09:07"),
        ("2026-11-02T09:1", "11-02 09:10"),
        ("2026-11-02T09", "11-02 09h"),
        ("2026-11-02", "11-02"),
        ("2026-11", "2026-11"),
    ],
)
def test_short_labels(bucket: str, label: str) -> None:
    assert charts.short_label(bucket) == label
