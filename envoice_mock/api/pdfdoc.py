"""The PDF of a shared document, drawn with fpdf2 in DejaVu Sans (embedded, subset), so every
language and currency symbol of the fixtures renders: `Müller & Søn`, `Łódź`, `€`, `₺`, `₽`."""

from __future__ import annotations

from datetime import datetime
from importlib.resources import as_file, files
from typing import Any

from fpdf import FPDF
from fpdf.enums import TableCellFillMode

from envoice_mock.clock import parse_iso
from envoice_mock.domain.sheet import Sheet

FONT = "DejaVu"
INK = (33, 37, 41)
MUTED = (108, 117, 125)
ACCENT = (13, 110, 253)
STATUS_COLOURS = {
    "Paid": (25, 135, 84),
    "Overdue": (220, 53, 69),
    "Void": (108, 117, 125),
    "Unpaid": (253, 126, 20),
    "Accepted": (25, 135, 84),
    "Rejected": (220, 53, 69),
}


# A table row must fit on one page: longer item descriptions are cut (the page shows them whole).
MAX_CELL_CHARS = 600


def clip(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """`text` on one line (blanks collapsed), cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def font_file(name: str) -> Any:
    """A font shipped in the package (see fonts/LICENSE-DejaVu.txt)."""
    return files("envoice_mock") / "fonts" / name


def render_pdf(sheet: Sheet, created: str | None = None) -> bytes:
    """A one-or-more-page A4 PDF of the sheet."""
    pdf = _new_document(sheet, created)
    _header(pdf, sheet)
    _parties(pdf, sheet)
    _item_lines(pdf, sheet)
    _totals(pdf, sheet)
    _payment_and_notes(pdf, sheet)
    _footer(pdf)
    return bytes(pdf.output())


def _new_document(sheet: Sheet, created: str | None) -> FPDF:
    """An A4 document with the embedded fonts, its metadata and a first page."""
    pdf = FPDF(format="A4")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=18)
    with as_file(font_file("DejaVuSans.ttf")) as regular, as_file(font_file("DejaVuSans-Bold.ttf")) as bold:
        pdf.add_font(FONT, "", str(regular))
        pdf.add_font(FONT, "B", str(bold))
    pdf.set_title(f"{sheet.title} {sheet.number}")
    pdf.set_author(sheet.business.name)
    pdf.set_creator("envoice-mock (sandbox)")
    if created:
        pdf.set_creation_date(parse_iso(created))
    else:
        pdf.set_creation_date(datetime(2024, 1, 1).astimezone())
    pdf.add_page()
    return pdf


def _header(pdf: FPDF, sheet: Sheet) -> None:
    """The business on the left; the document title, number and status on the right."""
    width = pdf.epw
    top = pdf.get_y()
    pdf.set_font(FONT, "B", 15)
    pdf.set_text_color(*INK)
    pdf.multi_cell(width * 0.6, 7, sheet.business.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    pdf.set_text_color(*MUTED)
    for line in sheet.business.lines:
        pdf.cell(width * 0.6, 4.6, line, new_x="LMARGIN", new_y="NEXT")
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + width * 0.6, top)
    pdf.set_font(FONT, "B", 20)
    pdf.set_text_color(*INK)
    pdf.cell(width * 0.4, 9, sheet.title.upper(), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    pdf.cell(width * 0.4, 6, sheet.number, align="R", new_x="LEFT", new_y="NEXT")
    if sheet.status:
        pdf.set_font(FONT, "B", 10)
        pdf.set_text_color(*STATUS_COLOURS.get(sheet.status, ACCENT))
        pdf.cell(width * 0.4, 6, sheet.status.upper(), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)


def _parties(pdf: FPDF, sheet: Sheet) -> None:
    """Bill to (the client) on the left, the dates on the right."""
    width = pdf.epw
    block_top = pdf.get_y()
    pdf.set_text_color(*MUTED)
    pdf.set_font(FONT, "B", 8)
    pdf.cell(
        width * 0.6, 5, "BILL TO" if sheet.kind != "order" else "CUSTOMER", new_x="LMARGIN", new_y="NEXT"
    )
    if sheet.client:
        pdf.set_text_color(*INK)
        pdf.set_font(FONT, "B", 10)
        pdf.multi_cell(width * 0.6, 5, sheet.client.name, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 9)
        for line in sheet.client.lines:
            pdf.multi_cell(width * 0.6, 4.6, line, new_x="LMARGIN", new_y="NEXT")
    client_bottom = pdf.get_y()
    pdf.set_y(block_top)
    for label, value in sheet.dates:
        pdf.set_x(pdf.l_margin + width * 0.6)
        pdf.set_font(FONT, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.cell(width * 0.2, 5, label, align="R")
        pdf.set_text_color(*INK)
        pdf.cell(width * 0.2, 5, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(client_bottom, pdf.get_y()) + 8)


def _item_lines(pdf: FPDF, sheet: Sheet) -> None:
    """One table row per item: quantity x unit price = amount, with discount and tax."""
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "", 9)
    pdf.set_draw_color(222, 226, 230)
    with pdf.table(
        col_widths=(44, 10, 16, 10, 10, 16),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        line_height=5.5,
        padding=(1.4, 1.6),
        borders_layout="HORIZONTAL_LINES",
        cell_fill_mode=TableCellFillMode.NONE,
        headings_style=_headings(),
    ) as table:
        table.row(("Description", "Qty", "Unit price", "Disc.", "Tax", "Amount"))
        for item in sheet.lines:
            table.row(
                (clip(item.description), item.quantity, item.unit_price, item.discount, item.tax, item.amount)
            )


def _totals(pdf: FPDF, sheet: Sheet) -> None:
    """Subtotal, discount, tax, total and what is due, each its own right-aligned row."""
    width = pdf.epw
    pdf.ln(4)
    for total in sheet.totals:
        pdf.set_x(pdf.l_margin + width * 0.55)
        pdf.set_font(FONT, "B" if total.strong else "", 10 if total.strong else 9)
        pdf.set_text_color(*(INK if total.strong else MUTED))
        pdf.cell(width * 0.25, 6, total.label, align="R")
        pdf.set_text_color(*INK)
        pdf.cell(width * 0.2, 6, total.amount, align="R", new_x="LMARGIN", new_y="NEXT")


def _payment_and_notes(pdf: FPDF, sheet: Sheet) -> None:
    """How to pay, then notes and terms."""
    pdf.ln(6)
    if sheet.gateways or sheet.kind == "invoice":
        pdf.set_font(FONT, "B", 8)
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 5, "PAYMENT OPTIONS", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 9)
        pdf.set_text_color(*INK)
        options = ", ".join(name for _, name in sheet.gateways) or "Bank transfer (no online payment set up)"
        pdf.multi_cell(0, 5, f"Pay online with {options}." if sheet.gateways else options)
        pdf.ln(3)
    for note in sheet.notes:
        pdf.set_font(FONT, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(0, 4.8, note, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)


def _footer(pdf: FPDF) -> None:
    """The sandbox notice at the foot of the last page."""
    pdf.set_auto_page_break(False)
    pdf.set_y(-14)
    pdf.set_font(FONT, "", 7)
    pdf.set_text_color(*MUTED)
    pdf.cell(0, 4, "Generated by envoice-mock, a sandbox: not a real document.", align="C")


def _headings() -> Any:
    from fpdf.fonts import FontFace

    return FontFace(family=FONT, emphasis="BOLD", color=MUTED, size_pt=8)
