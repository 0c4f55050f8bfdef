"""What share links show: an HTML page of the document, and a real (small) PDF of it."""

from __future__ import annotations

import html
from typing import Any


def document_lines(kind: str, doc: dict[str, Any], currency: dict[str, Any] | None) -> list[str]:
    """The document as plain text lines (shared by the HTML page and the PDF)."""
    symbol = (currency or {}).get("Code", "")
    lines = [f"{kind.capitalize()} {doc.get('Number') or doc.get('Name') or doc['Id']}"]
    client = doc.get("Client") or {}
    if client:
        lines.append(f"Bill to: {client.get('Name', '')} <{client.get('Email', '')}>")
    for label, key in (
        ("Issued", "IssuedOn"),
        ("Due", "Duedate"),
        ("Expires", "ExpiresOn"),
        ("Status", "Status"),
    ):
        if doc.get(key):
            lines.append(f"{label}: {doc[key]}")
    lines.append("")
    for item in doc.get("Items") or []:
        qty = item.get("Quantity", item.get("MinimumQuantity", 1))
        lines.append(
            f"{(item.get('Description') or 'Item')[:48]:<48} {qty:>7} x {item.get('Cost', 0):>10.2f}"
            f" = {item.get('TotalAmount', 0):>10.2f}"
        )
    lines.append("")
    for label, key in (
        ("Subtotal", "SubTotalAmount"),
        ("Discount", "DiscountAmount"),
        ("Tax", "TaxAmount"),
        ("Total", "TotalAmount"),
    ):
        if doc.get(key) is not None:
            lines.append(f"{label:<12} {doc[key]:>12.2f} {symbol}")
    return lines


def render_html(kind: str, doc: dict[str, Any], currency: dict[str, Any] | None) -> str:
    """A minimal, readable HTML page of a shared document."""
    lines = document_lines(kind, doc, currency)
    body = "\n".join(html.escape(line) for line in lines[1:])
    title = html.escape(lines[0])
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        "<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto}"
        "pre{background:#f6f6f6;padding:1rem}</style></head>"
        f"<body><h1>{title}</h1><p>Served by envoice-mock (sandbox).</p><pre>{body}</pre></body></html>"
    )


def render_pdf(kind: str, doc: dict[str, Any], currency: dict[str, Any] | None) -> bytes:
    """A valid one-page PDF with the document's text in Courier."""
    lines = document_lines(kind, doc, currency)

    def pdf_text(s: str) -> str:
        s = s.encode("latin-1", "replace").decode("latin-1")
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 10 Tf", "12 TL", "50 790 Td"]
    for i, line in enumerate(lines[:60]):
        ops.append(("" if i == 0 else "T* ") + f"({pdf_text(line)}) Tj")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
