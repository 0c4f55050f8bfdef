"""Document numbers: unique per account within each kind (invoices, estimations, orders, payment
links), as the description calls the invoice number unique; generated numbers skip taken ones.

The index is built from an account's rows the first time it is needed (so restored accounts need
nothing special) and kept current by the store on create, update and delete.
"""

from __future__ import annotations

from typing import Any


def number_key(number: Any) -> str:
    """How numbers compare: surrounding blanks and letter case do not make a number new."""
    return str(number).strip().casefold()


def number_index(
    numbers: dict[str, dict[str, int]], kind: str, rows: dict[int, dict[str, Any]]
) -> dict[str, int]:
    """The account's number → id index for one kind, built from its rows on first use."""
    index = numbers.get(kind)
    if index is None:
        index = numbers[kind] = {
            number_key(r["Number"]): obj_id for obj_id, r in rows.items() if r.get("Number")
        }
    return index


def holder_of(index: dict[str, int], number: Any, except_id: int | None = None) -> int | None:
    """The id of another row that already carries `number`, if any."""
    holder = index.get(number_key(number))
    return None if holder is None or holder == except_id else holder


def remember(index: dict[str, int], row: dict[str, Any], old_number: Any = None) -> None:
    """Record a row's (new) number, forgetting the number it had before."""
    if old_number is not None and index.get(number_key(old_number)) == row["Id"]:
        del index[number_key(old_number)]
    if row.get("Number"):
        index[number_key(row["Number"])] = row["Id"]


def forget(index: dict[str, int], row: dict[str, Any]) -> None:
    """Drop a deleted row's number."""
    if row.get("Number") and index.get(number_key(row["Number"])) == row["Id"]:
        del index[number_key(row["Number"])]
