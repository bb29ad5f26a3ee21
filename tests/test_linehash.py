"""The line fingerprint must equal what GitHub's SARIF upload computes, or alerts are duplicated."""

from __future__ import annotations

import pytest

from kalloclint.report.linehash import line_hashes

# Expected values published with the upload's own implementation (github/codeql-action,
# src/fingerprints.test.ts): one list per input, one hash per line.
PUBLISHED = [
    ("", ["c129715d7a2bc9a3:1"]),
    (" a\nb\n  \t\tc\n d", ["271789c17abda88f:1", "54703d4cd895b18:1", "180aee12dab6264:1", "a23a3dc5e078b07b:1"]),
    (" hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End",
     ["8b7cf3e952e7aeb2:1", "b1ae1287ec4718d9:1", "bff680108adb0fcc:1", "c6805c5e1288b612:1",
      "b86d3392aea1be30:1", "e6ceba753e1a442:1"]),
]
ENDED = ["e9496ae3ebfced30:1", "fb7c023a8b9ccb3f:1", "ce8ba1a563dcdaca:1", "e20e36e16fcb0cc8:1",
         "b3edc88f2938467e:1", "c8e28b0b4002a3a0:1", "c129715d7a2bc9a3:1"]


@pytest.mark.parametrize("text, expected", PUBLISHED)
def test_published_values(text, expected):
    assert line_hashes(text) == expected


@pytest.mark.parametrize("text", [
    " hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End\n",
    " hello; \t\nworld!!!\r\r\r  \t\tGreetings\r End\r",
    " hello; \t\r\nworld!!!\r\n\r\n\r\n  \t\tGreetings\r\n End\r\n",
    " hello; \t\nworld!!!\r\n\n\r  \t\tGreetings\r End\r\n",
])
def test_line_endings_are_normalised(text):
    assert line_hashes(text) == ENDED


def test_identical_windows_are_numbered():
    assert line_hashes("Lorem ipsum dolor sit amet.\n" * 10) == [
        "a7f2ff13bc495cf2:1", "a7f2ff13bc495cf2:2", "a7f2ff13bc495cf2:3", "a7f2ff13bc495cf2:4",
        "a7f2ff13bc495cf2:5", "a7f2ff13bc495cf2:6", "a7f2ff1481e87703:1", "a9cf91f7bbf1862b:1",
        "55ec222b86bcae53:1", "cc97dc7b1d7d8f7b:1", "c129715d7a2bc9a3:1"]


def test_indentation_does_not_matter_but_text_does():
    a = line_hashes("int f(void)\n{\n\treturn 0;\n}\n")
    b = line_hashes("int f(void)\n{\n        return 0;\n}\n")
    c = line_hashes("int f(void)\n{\n\treturn 1;\n}\n")
    assert a == b
    assert a[2] != c[2]


def _window_hash(units: list[int]) -> str:
    """The definition: 100 units from the line's start, zero-padded, as a base-37 number mod 2**64."""
    window = (units + [0] * 100)[:100]
    return format(sum(u * 37 ** (99 - j) for j, u in enumerate(window)) % 2 ** 64, "x")


def test_characters_outside_the_bmp_count_as_two_code_units():
    # The upload reads UTF-16 code units: U+1F600 is the surrogate pair D83D DE00, then the end of file.
    assert line_hashes("\U0001F600") == [_window_hash([0xD83D, 0xDE00, 0xFFFF]) + ":1"]
    assert line_hashes("é x\n") == [_window_hash([0xE9, ord("x"), 10, 0xFFFF]) + ":1",
                                     _window_hash([0xFFFF]) + ":1"]
