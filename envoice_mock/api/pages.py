"""The share page of a document: an HTML invoice a small business would send, with a pay button.

The page has no script: the pay button is a plain form that POSTs the share token back, so it
works under a strict Content-Security-Policy and from any browser.
"""

from __future__ import annotations

from html import escape

from envoice_mock.domain.sheet import Party, Sheet

STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#212529;
background:#f1f3f5;margin:0;padding:2rem 1rem;line-height:1.45}
main{max-width:52rem;margin:0 auto;background:#fff;border-radius:10px;padding:2.5rem;
box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06)}
header{display:flex;justify-content:space-between;gap:2rem;align-items:flex-start}
h1{margin:0;font-size:1.9rem;letter-spacing:.04em;text-transform:uppercase;text-align:right}
.business strong{font-size:1.25rem}
.muted,.party span{color:#6c757d;font-size:.9rem}
.party span{display:block}
.number{text-align:right;margin:.2rem 0}
.status{display:inline-block;float:right;padding:.15rem .7rem;border-radius:999px;font-weight:600;
font-size:.8rem;text-transform:uppercase;letter-spacing:.05em;background:#e7f1ff;color:#0d6efd}
.status-paid,.status-accepted,.status-completed{background:#d1e7dd;color:#146c43}
.status-overdue,.status-rejected,.status-refunded,.status-failed{background:#f8d7da;color:#b02a37}
.status-unpaid,.status-pendingpayment{background:#ffe5d0;color:#ca6510}
.status-void,.status-cancelled,.status-draft{background:#e9ecef;color:#495057}
.meta{display:flex;justify-content:space-between;gap:2rem;margin:2.2rem 0 1.6rem}
.label{font-size:.72rem;font-weight:700;letter-spacing:.08em;text-transform:uppercase;color:#6c757d}
dl{display:grid;grid-template-columns:auto auto;gap:.2rem 1.2rem;margin:0;align-self:flex-start}
dt{color:#6c757d;text-align:right}dd{margin:0;text-align:right}
table{width:100%;border-collapse:collapse;font-size:.95rem}
th{font-size:.72rem;letter-spacing:.06em;text-transform:uppercase;color:#6c757d;text-align:right;
border-bottom:2px solid #dee2e6;padding:.5rem .4rem}
td{padding:.6rem .4rem;border-bottom:1px solid #e9ecef;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;white-space:normal}
.totals{margin:1.2rem 0 0 auto;width:20rem}
.totals div{display:flex;justify-content:space-between;padding:.2rem .4rem;color:#6c757d}
.totals .strong{color:#212529;font-weight:700;font-size:1.08rem;border-top:1px solid #dee2e6}
.pay{margin-top:2rem;padding:1.4rem;border:1px solid #dee2e6;border-radius:8px;background:#f8f9fa}
.pay form{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:.8rem}
button{font:inherit;font-weight:600;border:0;border-radius:6px;padding:.6rem 1.2rem;cursor:pointer;
background:#0d6efd;color:#fff}
button:hover{background:#0b5ed7}
.notice{padding:.8rem 1rem;border-radius:6px;margin-bottom:1.5rem;background:#d1e7dd;color:#0f5132}
.notice.error{background:#f8d7da;color:#842029}
.notes{margin-top:2rem;color:#6c757d;font-size:.9rem}
footer{max-width:52rem;margin:1rem auto 0;text-align:center;color:#868e96;font-size:.8rem}
a{color:#0d6efd}
"""


def _party(party: Party, strong_class: str = "") -> str:
    lines = "".join(f"<span>{escape(line)}</span>" for line in party.lines)
    return f'<div class="party {strong_class}"><strong>{escape(party.name)}</strong>{lines}</div>'


def render_html(
    sheet: Sheet,
    *,
    token: str,
    opaque: str,
    pdf_url: str | None = None,
    pay_url: str | None = None,
    notice: str | None = None,
    error: bool = False,
) -> str:
    """The share page. `pay_url` (invoices that can be paid) adds one pay button per payment option."""
    title = f"{sheet.title} {sheet.number}"
    status_class = "status-" + "".join(ch for ch in sheet.status.lower() if ch.isalnum())
    status = f'<span class="status {status_class}">{escape(sheet.status)}</span>' if sheet.status else ""
    client = (
        f'<div><div class="label">{"Customer" if sheet.kind == "order" else "Bill to"}</div>'
        f"{_party(sheet.client)}</div>"
        if sheet.client
        else "<div></div>"
    )
    dates = "".join(f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>" for label, value in sheet.dates)
    rows = "".join(
        '<tr class="item">'
        f'<td class="description">{escape(line.description)}</td>'
        f'<td class="qty">{escape(line.quantity)}</td>'
        f'<td class="price">{escape(line.unit_price)}</td>'
        f'<td class="discount">{escape(line.discount)}</td>'
        f'<td class="tax">{escape(line.tax)}</td>'
        f'<td class="amount">{escape(line.amount)}</td></tr>'
        for line in sheet.lines
    )
    totals = "".join(
        f'<div class="total{" strong" if t.strong else ""}"><span>{escape(t.label)}</span>'
        f"<span>{escape(t.amount)}</span></div>"
        for t in sheet.totals
    )
    pay = _pay_block(sheet, token, opaque, pay_url)
    notes = "".join(f"<p>{escape(note)}</p>" for note in sheet.notes)
    banner = (
        f'<div class="notice{" error" if error else ""}" role="status">{escape(notice)}</div>'
        if notice
        else ""
    )
    pdf_link = f' · <a href="{escape(pdf_url)}">Download PDF</a>' if pdf_url else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · {escape(sheet.business.name)}</title><style>{STYLE}</style></head><body>"
        f"<main>{banner}<header>{_party(sheet.business, 'business')}"
        f'<div><h1>{escape(sheet.title)}</h1><p class="number">{escape(sheet.number)}</p>{status}</div></header>'
        f'<section class="meta">{client}<dl>{dates}</dl></section>'
        "<table><thead><tr><th>Description</th><th>Qty</th><th>Unit price</th><th>Disc.</th><th>Tax</th>"
        f"<th>Amount</th></tr></thead><tbody>{rows}</tbody></table>"
        f'<section class="totals">{totals}</section>{pay}'
        f'<section class="notes">{notes}</section></main>'
        f"<footer>Served by envoice-mock, a sandbox: no real money moves{pdf_link}</footer></body></html>"
    )


def _pay_block(sheet: Sheet, token: str, opaque: str, pay_url: str | None) -> str:
    if sheet.kind != "invoice":
        options = ", ".join(name for _, name in sheet.gateways)
        return (
            f'<section class="pay"><div class="label">Payment options</div><p>{escape(options)}</p></section>'
            if options
            else ""
        )
    options = ", ".join(name for _, name in sheet.gateways) or "bank transfer (no online payment set up)"
    head = f'<div class="label">Payment options</div><p>Pay with {escape(options)}.</p>'
    if sheet.status == "Paid":
        return (
            '<section class="pay"><div class="label">Payment</div><p>Paid in full. Thank you!</p></section>'
        )
    if not (pay_url and sheet.payable):
        return f'<section class="pay">{head}</section>'
    hidden = (
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<input type="hidden" name="id" value="{escape(opaque)}">'
    )
    buttons = (
        "".join(
            f'<button type="submit" name="gateway" value="{escape(name)}">Pay with {escape(label)}</button>'
            for name, label in sheet.gateways
        )
        or '<button type="submit" name="gateway" value="">Record a payment</button>'
    )
    total = next((t.amount for t in reversed(sheet.totals) if t.label == "Amount due"), "")
    return (
        f'<section class="pay">{head}<p class="muted">Amount due: {escape(total)}</p>'
        f'<form method="post" action="{escape(pay_url)}">{hidden}{buttons}</form></section>'
    )
