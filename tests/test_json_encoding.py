"""Response JSON: orjson's bytes, the standard library's where orjson refuses the value."""

from __future__ import annotations

import json

import pytest

from envoice_mock.api.codecs import encode_json


def stdlib(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        {"Total": 250.0, "Tax": 0.30000000000000004, "Zero": -0.0, "Big": 1e16, "Small": 0.0005},
        {"Name": "Zorbachstraße 7 \u2028 <b>&</b>", "Ctl": '\x00\x1f"\\', "Emoji": "\U0001f600"},
        {1: "int key", "nested": [[], {}, None, True, False, 12345678901234]},
        [2**70, -(2**64)],
    ],
)
def test_same_bytes_as_the_standard_library(value: object) -> None:
    assert encode_json(value) == stdlib(value)


def test_tiny_floats_and_nan_are_valid_json() -> None:
    assert encode_json([1e-5, float("nan"), float("inf")]) == b"[0.00001,null,null]"


def test_an_unencodable_string_still_fails() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_json("\ud800")
