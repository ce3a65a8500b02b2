"""Find the records of a block of CSV text (UTF-8 bytes) with numpy, as csv.reader would.

numpy finds the quotes, delimiters and line breaks of a block. When every quote opens a field,
closes one or is doubled inside one (the usual case), the parity of the quotes seen so far tells
which line breaks end a record; otherwise a regular expression that follows the state machine of
Python's csv module finds the quoted fields. Either way every record gets its physical line
number, its field count, and flags for what only csv.reader may read right (irregular quoting,
maybe-blank records).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_QUOTE, _LF, _CR, _SPACE, _TAB = 0x22, 0x0A, 0x0D, 0x20, 0x09


@dataclass
class Records:
    """The complete records at the start of a buffer."""

    starts: np.ndarray  # offset of each record's first byte
    ends: np.ndarray  # offset just past its content (terminator excluded)
    nexts: np.ndarray  # offset just past its terminator
    line_offsets: np.ndarray  # line breaks before the record's start
    fields: np.ndarray  # number of fields
    irregular: np.ndarray  # quoting that pyarrow might read differently from csv.reader
    blankish: np.ndarray  # only whitespace, delimiters and quotes: maybe a blank record
    lines_through: np.ndarray  # line breaks up to the record's end (terminator included)


class RecordScanner:
    """Locates the complete records of a buffer for one delimiter."""

    def __init__(self, delimiter: str) -> None:
        self.delim_byte = delimiter.encode("utf-8")
        # A record is blank when every field is empty once str.strip()ped. Any printable ASCII
        # byte other than a quote or the delimiter proves a record is not blank; records
        # without one (whitespace, quotes, delimiters, non-ASCII bytes) are checked by
        # csv.reader and str.strip(), so the rule is Python's, Unicode spaces included.
        insignificant = np.ones(256, dtype=bool)
        insignificant[0x21:0x7F] = False
        insignificant[[_QUOTE, self.delim_byte[0]]] = True
        self._insignificant = insignificant
        boundary = np.zeros(256, dtype=bool)
        boundary[[self.delim_byte[0], _LF, _CR, _QUOTE]] = True
        self._boundary = boundary
        self._insignificant_bytes = bytes(np.flatnonzero(insignificant).tolist())
        self._quoted_field = re.compile(
            b"(?:(?<=[" + re.escape(self.delim_byte) + rb"\r\n])|\A)\"(?:[^\"]++|\"\")*+(?:(\")|\Z)"
        )

    def scan(self, buf: bytes, *, final: bool) -> Records:
        """Locate the complete records of buf (which starts on a record boundary)."""
        a = np.frombuffer(buf, dtype=np.uint8)
        n = len(a)
        delim = self.delim_byte[0]
        lf = np.flatnonzero(a == _LF)
        cr = np.flatnonzero(a == _CR)
        if len(cr):
            after = cr + 1
            lone = after < n
            lone[lone] = a[after[lone]] != _LF
            if final and cr[-1] == n - 1:
                lone[-1] = True  # a CR ending the file; otherwise it may start a CRLF to come
            breaks = np.sort(np.concatenate([lf, cr[lone]])) if lone.any() else lf
        else:
            breaks = lf
        qpos = np.flatnonzero(a == _QUOTE)
        dpos = np.flatnonzero(a == delim)

        irregular_at = np.empty(0, dtype=np.int64)
        unterminated_at = -1
        if len(qpos) == 0:
            break_out, delim_out = breaks, dpos
        elif self._parity_ok(a, qpos):
            break_out = breaks[(np.searchsorted(qpos, breaks) & 1) == 0]
            delim_out = dpos[(np.searchsorted(qpos, dpos) & 1) == 0]
            if len(qpos) % 2:
                unterminated_at = int(qpos[-1])
        else:
            starts, ends, closed = self._quoted_spans(buf)
            break_out = breaks[~inside(starts, ends, breaks)]
            delim_out = dpos[~inside(starts, ends, dpos)]
            stray = qpos[~inside(starts, ends, qpos)]
            follow = ends[closed & (ends < n)]
            bad_follow = follow[~self._boundary[a[follow]] | (a[follow] == _QUOTE)]
            irregular_at = np.concatenate([stray, bad_follow]).astype(np.int64)
            if len(closed) and not closed[-1]:
                unterminated_at = int(starts[-1])

        # Records end at the line breaks outside quotes; at the end of the file, so does the tail.
        nexts = (break_out + 1).astype(np.int64)
        tail = final and (len(nexts) == 0 or nexts[-1] < n)
        if tail:
            nexts = np.append(nexts, np.int64(n))
        starts = np.concatenate([np.zeros(1, dtype=np.int64), nexts[:-1]])[: len(nexts)]
        term = np.ones(len(nexts), dtype=np.int64)
        if tail:
            term[-1] = 0
        crlf = (term == 1) & (nexts - 2 >= starts)
        crlf[crlf] = (a[nexts[crlf] - 1] == _LF) & (a[nexts[crlf] - 2] == _CR)
        term[crlf] = 2
        ends = nexts - term
        fields = 1 + (np.searchsorted(delim_out, ends) - np.searchsorted(delim_out, starts))
        line_offsets = np.searchsorted(breaks, starts).astype(np.int64)
        irregular = np.zeros(len(starts), dtype=bool)
        if final and unterminated_at >= 0:
            irregular_at = np.append(irregular_at, np.int64(unterminated_at))
        if len(irregular_at) and len(starts):
            irregular_at = irregular_at[irregular_at < nexts[-1]]
            idx = np.searchsorted(starts, irregular_at, side="right") - 1
            irregular[idx[idx >= 0]] = True
        return Records(
            starts=starts,
            ends=ends,
            nexts=nexts,
            line_offsets=line_offsets,
            fields=fields.astype(np.int64),
            irregular=irregular,
            blankish=self._blankish(buf, a, starts, ends, delim),
            lines_through=np.searchsorted(breaks, nexts).astype(np.int64),
        )

    def _parity_ok(self, a: np.ndarray, qpos: np.ndarray) -> bool:
        """Whether every quote opens a field, closes one, or is doubled inside one."""
        n = len(a)
        boundary = self._boundary
        opening = qpos[0::2]
        if not boundary[a[opening[opening > 0] - 1]].all():
            return False
        closing = qpos[1::2]
        return bool(boundary[a[closing[closing + 1 < n] + 1]].all())

    def _quoted_spans(self, buf: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Quoted fields as csv.reader sees them: [start, end) and whether the quote closes."""
        starts, ends, closed = [], [], []
        for m in self._quoted_field.finditer(buf):
            starts.append(m.start())
            ends.append(m.end())
            closed.append(m.group(1) is not None)
        return (
            np.array(starts, dtype=np.int64),
            np.array(ends, dtype=np.int64),
            np.array(closed, dtype=bool),
        )

    def _blankish(
        self, buf: bytes, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, delim: int
    ) -> np.ndarray:
        """Records that may be blank (no printable ASCII byte but quotes and delimiters)."""
        insignificant = self._insignificant
        blankish = np.zeros(len(starts), dtype=bool)
        # A record with a significant byte among its first few cannot be blank: that settles
        # nearly every record without looking further.
        candidates = np.flatnonzero(ends > starts)
        for k in range(12):
            pos = starts[candidates] + k
            within = pos < ends[candidates]
            keep = ~within
            keep[within] = insignificant[a[pos[within]]]
            candidates = candidates[keep]
            if len(candidates) == 0:
                return blankish
        if len(candidates) > 1000:  # e.g. every field quoted: sum them all at once
            bounds = np.empty(2 * len(candidates), dtype=np.int64)
            bounds[0::2] = starts[candidates]
            bounds[1::2] = ends[candidates]
            significant = ~insignificant[a]
            sums = np.add.reduceat(significant, bounds, dtype=np.int64)[0::2]
            blankish[candidates] = sums == 0
            return blankish
        drop = self._insignificant_bytes
        for i in candidates.tolist():
            if not buf[int(starts[i]) : int(ends[i])].translate(None, drop):
                blankish[i] = True
        return blankish

    # ------------------------------------------------------------------ building


def slice_records(rec: Records, take: int) -> Records:
    """The first ``take`` records."""
    return Records(
        starts=rec.starts[:take],
        ends=rec.ends[:take],
        nexts=rec.nexts[:take],
        line_offsets=rec.line_offsets[:take],
        fields=rec.fields[:take],
        irregular=rec.irregular[:take],
        blankish=rec.blankish[:take],
        lines_through=rec.lines_through[:take],
    )


def inside(starts: np.ndarray, ends: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Whether each position lies in a quoted span [start, end)."""
    result = np.zeros(len(positions), dtype=bool)
    if len(starts) == 0 or len(positions) == 0:
        return result
    idx = np.searchsorted(starts, positions, side="right") - 1
    ok = idx >= 0
    result[ok] = positions[ok] < ends[idx[ok]]
    return result
