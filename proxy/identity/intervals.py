"""Integer intervals of addresses: CIDR prefixes parsed, nested spans flattened, overlaid.

proxy.identity.networks compiles every provider and crawler range into disjoint
labelled intervals with these; they are pure, and fast enough for ~150k prefixes
in about a second (the loader's hot loops avoid `ipaddress`).
"""

from __future__ import annotations

import bisect
import itertools
import socket
from array import array
from collections.abc import Sequence

Span = tuple[int, int, object]  # (first, last address, label)
_FAMILY = {4: (socket.AF_INET, 32), 6: (socket.AF_INET6, 128)}
_FAR = 1 << 129  # past every IPv6 address


def parse_prefix(text: str) -> tuple[int, int, int]:
    """(version, first, last address as integers) of a CIDR prefix; ValueError if bad.

    `ipaddress` would take several microseconds per prefix; this is the loader's hot loop.
    """
    address, slash, length_text = text.partition("/")
    version = 6 if ":" in address else 4
    family, bits = _FAMILY[version]
    try:
        value = int.from_bytes(socket.inet_pton(family, address))
        length = int(length_text) if slash else bits
    except (OSError, ValueError):
        raise ValueError(f"{text!r} is not a network prefix") from None
    if not 0 <= length <= bits:
        raise ValueError(f"{text!r}: prefix length must be from 0 to {bits}")
    host = (1 << (bits - length)) - 1
    if value & host:
        raise ValueError(f"{text!r} has host bits set")
    return version, value, value | host


def flatten(spans: list[Span]) -> list[Span]:
    """Nested or disjoint CIDR spans → disjoint ones, the innermost label winning.

    Among identical spans the last one listed wins. A stack holds the spans that
    enclose the current point; CIDR blocks never overlap partially.
    """
    spans.sort(key=lambda s: (s[0], -s[1]))  # stable: identical spans keep their order
    out: list[Span] = []
    stack: list[tuple[int, object]] = []
    cursor = 0
    for start, end, label in spans:
        while stack and stack[-1][0] < start:
            top_end, top = stack.pop()
            if cursor <= top_end:
                out.append((cursor, top_end, top))
            cursor = max(cursor, top_end + 1)
        if stack and cursor < start:
            out.append((cursor, start - 1, stack[-1][1]))
        cursor = start
        stack.append((end, label))
    while stack:
        top_end, top = stack.pop()
        if cursor <= top_end:
            out.append((cursor, top_end, top))
        cursor = max(cursor, top_end + 1)
    return out


def overlay(a: list[Span], b: list[Span]) -> list[tuple[int, int, object, object]]:
    """Two lists of disjoint spans → the pieces either covers, with both labels (or None).

    Runs of one list that lie wholly before the other's next span are copied in bulk
    (found by bisect): the crawler ranges are a few hundred beside 100k provider spans.
    """
    out: list[tuple[int, int, object, object]] = []
    starts = ([s for s, _, _ in a], [s for s, _, _ in b])
    i = j = 0
    cursor = -1
    never = (_FAR, _FAR, None)
    while i < len(a) or j < len(b):
        a_start, a_end, a_label = a[i] if i < len(a) else never
        b_start, b_end, b_label = b[j] if j < len(b) else never
        if cursor < a_start < b_start:
            k = bisect.bisect_left(starts[0], b_start, i) - 1  # a[k] may reach into b[j]
            out.extend((s, e, label, None) for s, e, label in a[i:k])
            i = max(i, k)
            a_start, a_end, a_label = a[i]
        elif cursor < b_start < a_start:
            k = bisect.bisect_left(starts[1], a_start, j) - 1
            out.extend((s, e, None, label) for s, e, label in b[j:k])
            j = max(j, k)
            b_start, b_end, b_label = b[j]
        cursor = max(cursor, min(a_start, b_start))
        in_a, in_b = a_start <= cursor, b_start <= cursor
        if in_a and in_b:
            end = min(a_end, b_end)
        elif in_a:
            end = min(a_end, b_start - 1)
        else:
            end = min(b_end, a_start - 1)
        out.append((cursor, end, a_label if in_a else None, b_label if in_b else None))
        cursor = end + 1
        i += in_a and a_end == end
        j += in_b and b_end == end
    return out


BUCKET_BITS = 16  # 65,536 buckets a family: 0.5 MB of pointers, 0.25 MB of indexes


def bucket_index[L](
    starts: list[int], ends: list[int], labels: Sequence[L], bits: int, empty: L
) -> tuple[list[L | None], array[int]]:
    """A first-level index over sorted disjoint intervals of a `bits`-bit address space.

    The space is cut into 2**BUCKET_BITS buckets by the top bits of an address.
    `direct[b]` is the answer for every address of bucket b when one interval (its
    label) or none (`empty`) covers the whole bucket, else None; then the interval
    holding an address of b is among starts[first[b] : first[b + 1] + 1]. Most of
    the address space is one or the other: a lookup is then one list index, and
    otherwise a bisect over a few intervals instead of all of them.
    """
    shift = bits - BUCKET_BITS
    last = (1 << shift) - 1  # an address's offset in its bucket, at most
    buckets = 1 << BUCKET_BITS
    direct: list[L | None] = [empty] * (buckets + 1)  # one past the end keeps lengths equal
    counts = [0] * (buckets + 1)  # intervals starting at or before each bucket's first address
    # One pass over the intervals, never over the buckets: loading from the cache stays fast.
    for start, end, label in zip(starts, ends, labels, strict=True):
        low, high = start >> shift, end >> shift
        if start & last:  # starts inside bucket `low`: that one needs a bisect
            direct[low] = None
            low += 1
        if low <= buckets:
            counts[low] += 1
        if end & last != last:  # ends inside bucket `high`
            direct[high] = None
            high -= 1
        if low <= high:  # the buckets it covers wholly
            direct[low : high + 1] = [label] * (high - low + 1)
    first = array("I", [max(n - 1, 0) for n in itertools.accumulate(counts)])
    return direct, first
