"""Shared documents a person would show: the PDF renders every language and currency symbol (text
extracted back out), and the share page and PDF show an invoice with correct lines, totals,
payment options and a pay button that takes the same payment as POST /_mock/invoice/{id}/pay."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader
from starlette.testclient import TestClient

from envoice_mock.api.pdfdoc import font_file
from envoice_mock.runtime.wiring import Runtime
from envoice_mock.sink import Sink
from envoice_mock.spec import Spec

from .helpers import AUTH

MULTILINGUAL = {
    "client": "Müller & Søn – Łódź",
    "German": "Größenänderung für Straßenbäume",
    "French": "Crème brûlée à l’été, œuvre façonnée",
    "Polish": "Zażółć gęślą jaźń",
    "Turkish": "İstanbul ağır şişe ığdır",
    "Cyrillic": "Счёт за услуги: Щука и Ёж",
    "Greek": "Τιμολόγιο υπηρεσιών Ωμέγα",
}
CURRENCIES = {"EUR": 163, "GBP": 170}
PDFTOTEXT = shutil.which("pdftotext")


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as pypdf reads it (pure Python)."""
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def pdftotext(pdf: bytes) -> str:
    """The PDF's text as poppler's pdftotext lays it out."""
    assert PDFTOTEXT
    done = subprocess.run(
        [PDFTOTEXT, "-layout", "-", "-"], input=pdf, capture_output=True, timeout=30, check=True
    )
    return done.stdout.decode("utf-8")


def local(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def currency_ids(spec: Spec) -> dict[str, dict[str, Any]]:
    return {c["Code"]: c for c in spec.reference["currencies"]}


@pytest.fixture
def make_invoice(client: TestClient) -> Iterator[Any]:
    numbers = iter(range(1, 1000))

    def make(currency: int = 163, items: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        worktype = client.post("/api/worktype/new", json={"Title": "Beratung"}).json()
        customer = client.post(
            "/api/client/new",
            json={
                "Name": MULTILINGUAL["client"],
                "Email": "kontakt@mueller-soen.example",
                "Address": "ul. Piotrkowska 104, 90-926 Łódź",
                "ClientCurrencyId": currency,
                "ClientCountryId": 235,
                "UiLanguageId": 9,
            },
        ).json()
        body = {
            "ClientId": customer,
            "Number": f"FV/2024/{next(numbers):03d}",
            "IssuedOn": "2024-03-01T09:00:00Z",
            "Duedate": "2024-03-31T09:00:00Z",
            "CurrencyId": currency,
            "PaymentGateways": [{"Name": "paypal"}, {"Name": "stripe"}],
            "Items": items
            or [
                {"WorkTypeId": worktype, "Description": text, "Cost": 90, "Quantity": 5, "TaxPercentage": 20}
                for text in list(MULTILINGUAL.values())[1:]
            ],
            **extra,
        }
        r = client.post("/api/invoice/new", json=body)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    yield make


def fetch_pdf(client: TestClient, invoice_id: int) -> bytes:
    link = client.get("/api/invoice/pdf", params={"id": invoice_id}).json()["Link"]
    r = client.get(local(link))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    return r.content


# --- the PDF: Unicode text comes back out ---------------------------------------------------------


def test_the_embedded_font_covers_every_fixture_symbol_and_ui_language(spec: Spec) -> None:
    sample = (
        "".join(MULTILINGUAL.values()) + "".join(c["Symbol"] for c in spec.reference["currencies"]) + "−×€…"
    )
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        with font_file(name).open("rb") as handle:
            cmap = TTFont(handle).getBestCmap()
        assert [ch for ch in sample if not ch.isspace() and ord(ch) not in cmap] == [], name


def test_the_pdf_carries_every_language_as_text(client: TestClient, make_invoice: Any) -> None:
    invoice = make_invoice()
    pdf = fetch_pdf(client, invoice["Id"])
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # a TrueType font, embedded
    text = pdf_text(pdf)
    for language, sample in MULTILINGUAL.items():
        assert sample in text, f"{language}: {sample!r} not in the extracted text"
    assert "€450.00" in text and "€90.00" in text
    assert "?" not in text.replace("Questions?", "")  # nothing was replaced by a question mark


@pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext not installed (apt-get install poppler-utils)")
def test_pdftotext_reads_every_language_and_the_line_layout(client: TestClient, make_invoice: Any) -> None:
    invoice = make_invoice()
    text = pdftotext(fetch_pdf(client, invoice["Id"]))
    for language, sample in MULTILINGUAL.items():
        assert sample in text, f"{language}: {sample!r} not in pdftotext's output"
    for sample in list(MULTILINGUAL.values())[1:]:
        line = next(line for line in text.splitlines() if sample in line)
        assert re.search(r"\b5\s+€90\.00\s+20%\s+€450\.00\s*$", line), line  # 5 x 90.00 = 450.00, tax 20%
    totals = {m.group(1): m.group(2) for m in re.finditer(r"(Subtotal|Tax|Total|Amount due)\s+(\S+)", text)}
    assert totals == {
        "Subtotal": "€2,700.00",
        "Tax": "€540.00",
        "Total": "€3,240.00",
        "Amount due": "€3,240.00",
    }


@pytest.mark.parametrize(
    "code", ["EUR", "GBP", "TRY", "RUB", "PLN", "INR", "KRW", "ILS", "PHP", "CZK", "BGN", "RSD", "MKD", "JPY"]
)
def test_currency_symbols_come_out_of_the_pdf(
    client: TestClient, make_invoice: Any, spec: Spec, code: str
) -> None:
    currency = currency_ids(spec)[code]
    invoice = make_invoice(
        currency=currency["Id"], items=[{"Description": "Widget", "Cost": 1234.5, "Quantity": 2}]
    )
    text = pdf_text(fetch_pdf(client, invoice["Id"]))
    symbol = currency["Symbol"]
    assert ("2,469.00" in text) and (symbol in text), (code, symbol)


# --- the share page ---------------------------------------------------------------------------------


class Cells(HTMLParser):
    """Text of elements by class, rows of the totals block, forms and their fields."""

    def __init__(self) -> None:
        super().__init__()
        self.by_class: dict[str, list[str]] = {}
        self.forms: list[dict[str, Any]] = []
        self._open: list[tuple[str, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"method": a.get("method"), "action": a.get("action"), "fields": {}, "buttons": []}
            )
        if tag == "input" and self.forms:
            self.forms[-1]["fields"][a.get("name")] = a.get("value")
        if tag == "button" and self.forms:
            self.forms[-1]["buttons"].append(a.get("value"))
        if tag in ("input", "meta", "br"):
            return
        cls = (a.get("class") or "").split()
        self._open.append(tuple(cls))
        for name in cls:
            self.by_class.setdefault(name, [])

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for name in {c for classes in self._open for c in classes}:
            self.by_class[name].append(data)


def page_of(client: TestClient, invoice_id: int, preview: bool = True) -> tuple[str, Cells, str]:
    link = client.get("/api/invoice/uri", params={"id": invoice_id}).json()["Link"]
    r = client.get(local(link) + ("&preview=1" if preview else ""))
    assert r.status_code == 200
    cells = Cells()
    cells.feed(r.text)
    return html.unescape(r.text), cells, link


def test_the_share_page_shows_lines_and_separate_totals(client: TestClient, make_invoice: Any) -> None:
    items = [
        {"Description": "Design", "Cost": 90, "Quantity": 5, "DiscountPercentage": 10, "TaxPercentage": 20},
        {"Description": "Hosting", "Cost": 12.5, "Quantity": 12, "TaxPercentage": 5},
    ]
    invoice = make_invoice(items=items)
    text, cells, _ = page_of(client, invoice["Id"])
    # quantity x cost = line amount (not the line's total after discount and tax)
    assert cells.by_class["qty"] == ["5", "12"]
    assert cells.by_class["price"] == ["€90.00", "€12.50"]
    assert cells.by_class["amount"] == ["€450.00", "€150.00"]
    assert cells.by_class["discount"] == ["10%"] and cells.by_class["tax"] == ["20%", "5%"]
    totals = dict(zip(cells.by_class["total"][::2], cells.by_class["total"][1::2], strict=True))
    assert totals == {
        "Subtotal": "€600.00",
        "Discount": "−€45.00",
        "Tax": "€88.50",  # 20% of 405 + 5% of 150
        "Total": "€643.50",
        "Amount due": "€643.50",
    }
    assert invoice["TotalAmount"] == 643.5 and invoice["TaxAmount"] == 88.5
    # who, when, what state, how to pay
    assert MULTILINGUAL["client"] in text and "Łódź" in text
    assert "01 Mar 2024" in text and "31 Mar 2024" in text
    assert invoice["Number"] in text and "Draft" in text
    assert "PayPal" in text and "Stripe" in text
    business = cells.by_class["business"][0].strip()
    assert business and business in text
    assert cells.forms == []  # a draft cannot be paid yet


def pay_form(cells: Cells) -> dict[str, Any]:
    assert len(cells.forms) == 1
    form = cells.forms[0]
    assert form["method"] == "post"
    return form


def test_the_pay_button_takes_the_same_payment_and_the_webhook_arrives(
    runtime: Runtime, make_invoice: Any, client: TestClient
) -> None:
    invoice = make_invoice()
    client.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
    with Sink.running(secret=AUTH["x-auth-secret"]) as sink:
        client.post("/_mock/webhooks", json={"Url": sink.url})
        _, cells, link = page_of(client, invoice["Id"])
        form = pay_form(cells)
        assert form["buttons"] == ["paypal", "stripe"]
        token = parse_qs(urlsplit(link).query)["token"][0]
        assert form["fields"]["token"] == token
        r = client.post(form["action"], data={**form["fields"], "gateway": "stripe"}, follow_redirects=False)
        assert r.status_code == 303
        assert "paid=stripe" in r.headers["location"]
        arrivals = sink.wait_for(
            lambda rs: {json.loads(x["Body"])["Activity"]["Type"] for x in rs} >= {16, 11}
        )
    details = client.get("/api/invoice/details", params={"id": invoice["Id"]}).json()
    assert details["Status"] == "Paid"
    assert [p["Type"] for p in details["Payments"]] == ["Stripe"]
    assert [a["Type"] for a in details["Activities"]][-2:] == ["NewPaymentWithStripe", "Paid"]
    types = [json.loads(x["Body"])["Activity"]["Type"] for x in arrivals]
    assert types.index(16) < types.index(11)  # NewPaymentWithStripe, then Paid
    after = client.get(r.headers["location"])
    assert "Payment received through Stripe" in after.text and "Paid in full" in after.text


def test_paying_twice_is_a_clear_message_not_an_error_page(make_invoice: Any, client: TestClient) -> None:
    invoice = make_invoice()
    client.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
    _, cells, _ = page_of(client, invoice["Id"])
    form = pay_form(cells)
    first = client.post(form["action"], data={**form["fields"], "gateway": "paypal"}, follow_redirects=False)
    assert first.status_code == 303
    again = client.post(form["action"], data={**form["fields"], "gateway": "paypal"}, follow_redirects=False)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("text/html")
    assert "form-action 'self'" in again.headers["content-security-policy"]
    assert "No payment was taken" in again.text and "already paid" in again.text
    details = client.get("/api/invoice/details", params={"id": invoice["Id"]}).json()
    assert len(details["Payments"]) == 1  # one payment, however often the button is pressed


def test_the_pay_action_needs_post_and_a_valid_token(make_invoice: Any, client: TestClient) -> None:
    invoice = make_invoice()
    client.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
    assert client.get("/invoice/shared/pay").status_code == 405
    _, cells, _ = page_of(client, invoice["Id"])
    real = pay_form(cells)["fields"]
    wrong_id = {"token": real["token"], "id": "0" * len(real["id"]), "gateway": "paypal"}
    for form in ({"token": "forged", "id": "x", "gateway": "paypal"}, {}, {"gateway": "paypal"}, wrong_id):
        r = client.post("/invoice/shared/pay", data=form)
        assert r.status_code == 404 and r.json()["IsFaulted"] is True
    r = client.post(
        "/invoice/shared/pay",
        content=b"\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    details = client.get("/api/invoice/details", params={"id": invoice["Id"]}).json()
    assert details["Status"] == "Unpaid" and "Payments" not in details


def test_a_gateway_the_invoice_does_not_offer_is_refused_on_the_page(
    make_invoice: Any, client: TestClient
) -> None:
    invoice = make_invoice()
    client.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
    _, cells, _ = page_of(client, invoice["Id"])
    form = pay_form(cells)
    r = client.post(form["action"], data={**form["fields"], "gateway": "bitcoin"}, follow_redirects=False)
    assert r.status_code == 400 and "No payment was taken" in r.text


def test_estimation_and_order_pages_show_their_documents_without_a_pay_button(
    client: TestClient, runtime: Runtime
) -> None:
    account = runtime.store.accounts["sandbox-key"]
    for kind in ("estimation", "order", "paymentlink"):
        row = next(iter(account.table(kind).values()))
        link = runtime.store.share_link(account, kind, row)
        r = client.get(local(link) + "&preview=1")
        assert r.status_code == 200, kind
        cells = Cells()
        cells.feed(r.text)
        assert cells.forms == [], kind
        assert cells.by_class["amount"], kind
        assert row["Number"] in r.text
        pdf = client.get(local(runtime.store.share_link(account, kind, row, pdf=True)))
        assert pdf.status_code == 200 and row["Number"] in pdf_text(pdf.content), kind


def test_hostile_text_still_makes_a_pdf_and_a_page(client: TestClient, make_invoice: Any) -> None:
    """A description too long for a page, hundreds of line breaks, scripts the font lacks: a document
    still comes out (long cells cut with an ellipsis), never a 500."""
    items = [
        {"Description": "x" * 5000, "Cost": 1, "Quantity": 1},
        {"Description": "line\n" * 600, "Cost": 1, "Quantity": 1e9},
        {"Description": "漢字 🙂 שלום", "Cost": 1, "Quantity": 1},
    ]
    invoice = make_invoice(items=items, Notes="n " * 20000)
    text = pdf_text(fetch_pdf(client, invoice["Id"]))
    assert text.count("x") >= 599 and "…" in text  # the 5,000-character word, cut
    _, cells, _ = page_of(client, invoice["Id"])
    assert len(cells.by_class["description"][0]) == 5000  # the page shows it whole
