"""Benchmark suite for optout-proxy: `make bench` (= `python -m bench`), never part of `make test`.

Issue 9 sets throughput, latency and memory targets relative to plain mitmdump
(the engine baseline) and reports nginx (the incumbent) alongside; this package
measures all of them on loopback, the way shared/reference/engine-notes.md did:
a fresh process per run, a warm-up, interleaved rounds, CPU and RSS from /proc.
"""
