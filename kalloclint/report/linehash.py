"""GitHub code scanning's `primaryLocationLineHash`: the line fingerprint its SARIF upload computes.

The upload (github/codeql-action, src/fingerprints.ts) reads the file as UTF-16 code units, drops
spaces and tabs, turns CR LF and lone CR into LF, and appends one end-of-file unit (0xFFFF). A line's
hash is the polynomial hash (base 37, modulo 2**64) of the 100 units starting at the line's first
unit, zero-padded past the end, written in hex; `:n` counts how often that value has already been
seen in the file, so identical windows stay apart. Results that carry the same value are matched
across uploads even when unrelated edits move them.
"""

from __future__ import annotations

import sys
from array import array

WINDOW = 100
BASE = 37
EOF_UNIT = 0xFFFF
_MASK = (1 << 64) - 1
_LF = 0x0A


def _units(text: str) -> array:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").replace(" ", "").replace("\t", "")
    units = array("H")
    units.frombytes(normalised.encode("utf-16-le"))
    if sys.byteorder == "big":
        units.byteswap()
    units.append(EOF_UNIT)
    return units


def line_hashes(text: str) -> list[str]:
    """The fingerprint of every line of `text`, first line first (a text ending in a newline has one
    more line, the end of file)."""
    units = _units(text)
    prefix = [0]
    h = 0
    for unit in units:
        h = (h * BASE + unit) & _MASK
        prefix.append(h)
    for _ in range(WINDOW):  # the zero padding after the end of file
        h = (h * BASE) & _MASK
        prefix.append(h)
    shift = pow(BASE, WINDOW, 1 << 64)
    starts = [0] + [i + 1 for i, unit in enumerate(units) if unit == _LF]
    seen: dict[str, int] = {}
    out = []
    for start in starts:
        value = format((prefix[start + WINDOW] - prefix[start] * shift) & _MASK, "x")
        seen[value] = seen.get(value, 0) + 1
        out.append(f"{value}:{seen[value]}")
    return out
