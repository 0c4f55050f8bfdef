"""What an XML request body decodes to: element and text values that remember they came from XML.

XML has no arrays: a list field is an element whose children are the items, whatever their tag
(`<Items><Item>..</Item></Items>`, `<Items><InvoiceItemApiModel>..`), and a list of one or of zero
looks like an object or an empty element. Request coercion asks these types, where it expects a
list, for the children in order, so lists of any length read the same as in JSON.
"""

from __future__ import annotations

from typing import Any


class XmlElement(dict[str, Any]):
    """An XML element with child elements: a dict by (namespace-free) tag, last one winning, plus
    every child in document order for when the element is a list."""

    def __init__(self, children: list[tuple[str, Any]]) -> None:
        super().__init__(children)
        self.children = children

    def as_list(self) -> list[Any]:
        """The children's values in order: the items of a list field."""
        return [value for _, value in self.children]


class XmlText(str):
    """The text of an XML element without child elements (`""` for `<Tag/>`)."""

    __slots__ = ()


def xml_list(raw: Any) -> list[Any] | None:
    """The items when `raw` is an XML element standing for a list (an empty one means none);
    None when `raw` did not come from XML or is text that cannot be a list."""
    if isinstance(raw, XmlElement):
        return raw.as_list()
    if isinstance(raw, XmlText) and not raw.strip():
        return []
    return None


def xml_empty(raw: Any) -> bool:
    """Whether `raw` is an empty XML element (`<Tag/>`)."""
    return isinstance(raw, XmlText) and not raw.strip()
