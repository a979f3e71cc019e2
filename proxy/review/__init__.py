"""Reviewing the access log: summary, violations, search, an HTML report, evidence bundles.

The writer (proxy/store/logwriter.py, proxy/evidence/) makes the log complete and
tamper-evident; this package answers what a security team asks of it.
Aggregations run in DuckDB over the JSON lines where they lie (rotated and gzipped
files included) because a month of traffic is millions of records; anything that
must see records in order (violations, evidence) streams them once.
"""
