"""What client input may contain: storable text, ASCII integers of sane length, finite JSON.

Checked where input is decoded, before anything reaches the store, so a refused request
changes nothing and nothing stored can later fail to encode (a lone UTF-16 surrogate cannot be
written as UTF-8; NUL and other control characters cannot be carried by XML).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from envoice_mock.faults import ApiFault

MAX_INT_DIGITS = 40  # far beyond any id or amount; Python refuses more than 4,300 anyway
# Characters XML 1.0 cannot carry (tab, newline and carriage return are fine), and surrogates.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_INT = re.compile(r"\s*(-?)([0-9]+)\s*", re.ASCII)


def ascii_int(text: str) -> int | None:
    """The integer written in ASCII digits (optionally signed), or None.

    Unicode digits such as `²` or `٣` are not integers here; more than MAX_INT_DIGITS digits
    raise a ValueError that says so.
    """
    found = _INT.fullmatch(text)
    if not found:
        return None
    if len(found.group(2)) > MAX_INT_DIGITS:
        raise ValueError(f"has more than {MAX_INT_DIGITS} digits")
    return int(found.group(1) + found.group(2))


def unstorable(text: str) -> str | None:
    """A description of the first character that cannot be stored, or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return f"contains a character that cannot be stored (U+{ord(found.group()):04X})"


def check_text(value: Any, path: str = "") -> None:
    """Raise a 400 naming the field when any key or string in `value` cannot be stored."""
    if isinstance(value, str):
        problem = unstorable(value)
        if problem:
            # The path may itself hold the character (a key): shown replaced, so the fault can be sent.
            raise ApiFault(400, "InvalidCharacter", problem, field=_UNSTORABLE.sub("\ufffd", path) or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            check_text(key, sub)
            check_text(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_text(item, f"{path}[{i}]")


def _no_constant(name: str) -> Any:
    raise ApiFault(400, "MalformedJson", f"{name} is not a JSON number; send a finite number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ApiFault(400, "MalformedJson", f"The number {text[:40]} is too large.")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ApiFault(
            400, "MalformedJson", f"An integer in the request body has more than {MAX_INT_DIGITS} digits."
        )
    return int(text)


def loads(text: str) -> Any:
    """json.loads that refuses NaN, Infinity, overflowing floats and giant integers (400)."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int)


# What the fast path leaves to `loads`: a run of 19+ digits (orjson reads integers past 64 bits
# as floats; the slow path keeps them exact and bounds their length), any escape (`\b`,
# `\u0000` decode to characters that cannot be stored) and the UTF-8 of U+FFF0-U+FFFF (among
# them U+FFFE and U+FFFF). Found with `in` and `translate`: a regular expression cost more than
# orjson's whole parse.
_DIGIT_MAP = bytes(49 if 48 <= b <= 57 else 48 for b in range(256))  # digits -> "1", else "0"
_LONG_NUMBER = b"1" * 19
NOT_FAST = object()
# orjson reads nesting to depth 1024, `loads` only as deep as Python's recursion limit allows
# from where it is called: a body with more opening brackets than this (a bound on its depth)
# is left to `loads`, so both always give the same answer.
MAX_FAST_BRACKETS = 512


def loads_fast(raw: bytes) -> Any:
    """The JSON value of a body that needs no further checks (orjson: ~10x faster than json),
    or NOT_FAST when the body is anything else: a syntax error, a BOM, a non-finite number,
    deep nesting, a long integer, an escape or an unstorable character. Then `loads` and
    `check_text` decide, with their messages; on every body this answers, they agree."""
    if b"\\" in raw or b"\xef\xbf" in raw or _LONG_NUMBER in raw.translate(_DIGIT_MAP):
        return NOT_FAST
    if raw.count(b"[") + raw.count(b"{") > MAX_FAST_BRACKETS:
        return NOT_FAST
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return NOT_FAST
