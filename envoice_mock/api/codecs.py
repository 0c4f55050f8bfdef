"""Request body decoding (JSON, form-urlencoded, XML) and response encoding (JSON, XML)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import orjson

from envoice_mock.api.views import RenderedView
from envoice_mock.domain.schema import RenderedLog
from envoice_mock.faults import ApiFault
from envoice_mock.inputs import NOT_FAST, ascii_int, check_text, loads, loads_fast
from envoice_mock.xmlnodes import XmlElement, XmlText

JSON_TYPES = ("application/json", "text/json")
FORM_TYPES = ("application/x-www-form-urlencoded",)
XML_TYPES = ("application/xml", "text/xml")
MAX_XML_DEPTH = 64
MAX_FORM_DEPTH = 64  # name parts of a form field (Items[0].Cost has three)


def decode_body(raw: bytes, content_type: str) -> Any:
    """Decode a request body by its media type; ApiFault(400/415) when it cannot be read or
    carries text that cannot be stored (400 naming the field)."""
    if _plain_json(content_type) and (data := loads_fast(raw)) is not NOT_FAST:
        return data
    data = _decode(raw, content_type)
    check_text(data)
    return data


def _plain_json(content_type: str) -> bool:
    """Whether a content type is plainly `application/json` (parameters allowed): what the fast
    decoder may read. Any other spelling (`text/json`, `+json`, upper case) goes the careful
    way, and `application/jsonp` and the like are no JSON at all."""
    return content_type == "application/json" or content_type.startswith("application/json;")


def _int_body(text: str) -> int | None:
    try:
        return ascii_int(text)
    except ValueError as exc:
        raise ApiFault(400, "InvalidValue", f"The request body {exc}.", field="body") from None


def _decode(raw: bytes, content_type: str) -> Any:
    media = content_type.split(";")[0].strip().lower()
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiFault(400, "MalformedBody", "The request body is not valid UTF-8.") from None
    if media in JSON_TYPES or media == "" or media.endswith("+json"):
        try:
            return loads(text)
        except RecursionError:
            raise ApiFault(400, "MalformedJson", "The request body is nested too deeply.") from None
        except json.JSONDecodeError as exc:
            raise ApiFault(
                400,
                "MalformedJson",
                f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
            ) from None
    if media in FORM_TYPES:
        return decode_form(text)
    if media in XML_TYPES:
        return decode_xml(text)
    if media == "text/plain" and (number := _int_body(text)) is not None:
        return number
    raise ApiFault(
        415,
        "UnsupportedMediaType",
        f"Content-Type {media!r} is not supported; send application/json, "
        "application/x-www-form-urlencoded or application/xml.",
    )


def decode_form(text: str) -> Any:
    """`a=1&Items[0].Cost=5&Items[0][Quantity]=2` into nested dicts and lists."""
    pairs = parse_qsl(text, keep_blank_values=True)
    if len(pairs) == 1 and pairs[0][0] == "" and (number := _int_body(pairs[0][1])) is not None:
        return number  # a bare integer body posted as a form: "=5"
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = [p for p in re.split(r"[.\[\]]+", key) if p != ""]
        if not parts:
            continue
        if len(parts) > MAX_FORM_DEPTH:  # no model is this deep; deeper would exhaust the stack
            raise ApiFault(
                400, "MalformedBody", f"Form field names are nested more than {MAX_FORM_DEPTH} levels deep."
            )
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ApiFault(400, "MalformedBody", f"Form field {key!r} conflicts with another field.")
    return root


def decode_xml(text: str) -> Any:
    """A .NET DataContract-style XML body (namespaced or not) into XmlElement/XmlText values, which
    request coercion reads as objects, lists (of any length, whatever the item tag) or scalars."""
    try:
        element = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ApiFault(400, "MalformedXml", f"The request body is not valid XML: {exc}.") from None

    def strip(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    def convert(el: ElementTree.Element, depth: int = 0) -> Any:
        if depth > MAX_XML_DEPTH:
            raise ApiFault(
                400, "MalformedXml", f"The request body is nested more than {MAX_XML_DEPTH} levels deep."
            )
        children = list(el)
        if not children:
            if el.attrib.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true":
                return None
            return XmlText((el.text or "").strip())
        return XmlElement([(strip(child.tag), convert(child, depth + 1)) for child in children])

    result = convert(element)
    if isinstance(result, str):
        if (number := _int_body(result)) is not None:
            return number  # a bare value body: <int>5</int>
        if not result:
            return XmlElement([])  # an empty root is an empty object: its fields are missing
    return result


def wants_xml(accept: str) -> bool:
    """Whether the Accept header prefers XML over JSON."""
    best: tuple[float, int, str] | None = None
    for index, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if media in (*JSON_TYPES, *XML_TYPES) and (best is None or (q, -index) > (best[0], best[1])):
            best = (q, -index, media)
    return bool(best and best[2] in XML_TYPES)


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _as_json(value: Any) -> Any:
    """What orjson is handed for a subclass of a JSON type: the JSON of a rendered activity log
    or of a remembered view as it stands (each encoded once), anything else as its plain base
    type."""
    if isinstance(value, RenderedLog):
        return list(value) if value.json is None else orjson.Fragment(value.json)
    if isinstance(value, RenderedView):
        if value.json is None:
            value.json = orjson.dumps(dict(value), default=_as_json, option=_JSON_OPTIONS)
        return orjson.Fragment(value.json)
    base: type[Any]
    for base in (str, int, float, list, dict):
        if isinstance(value, base):
            return base(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, made by orjson: the bytes `json.dumps(value, ensure_ascii=False,
    separators=(",", ":"))` gave, except that a float below 1e-4 is written without an exponent
    sign (`0.00001`, not `1e-05`) and NaN/infinity as `null` (valid JSON, unlike `NaN`). What orjson
    refuses (an integer beyond 64 bits) goes through the standard library."""
    try:
        return orjson.dumps(value, default=_as_json, option=_JSON_OPTIONS)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# Characters XML 1.0 cannot carry (C0 controls but tab/newline/CR, surrogates, U+FFFE/U+FFFF).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def xml_text(value: str) -> str:
    """`value` escaped for XML text, characters XML cannot carry replaced by U+FFFD."""
    return escape(_XML_ILLEGAL.sub("\ufffd", value))


def _xml_tag(name: str) -> str:
    if _XML_NAME.match(name) and not name.lower().startswith("xml"):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return cleaned if _XML_NAME.match(cleaned) and not cleaned.lower().startswith("xml") else f"_{cleaned}"


def encode_xml(value: Any, root: str = "Response") -> bytes:
    """A plain XML rendering of a JSON-ready value; list items are `<Item>` elements, and the
    answer is always well-formed XML (decode_xml reads it back)."""

    def node(tag: str, v: Any) -> str:
        tag = _xml_tag(tag)
        if v is None:
            return f"<{tag} />"
        if isinstance(v, dict):
            return f"<{tag}>" + "".join(node(str(k), x) for k, x in v.items()) + f"</{tag}>"
        if isinstance(v, list):
            return f"<{tag}>" + "".join(node("Item", x) for x in v) + f"</{tag}>"
        if isinstance(v, bool):
            return f"<{tag}>{str(v).lower()}</{tag}>"
        return f"<{tag}>{xml_text(str(v))}</{tag}>"

    return ('<?xml version="1.0" encoding="utf-8"?>' + node(root, value)).encode("utf-8", "replace")
