"""The domain without HTTP: accounts, shares, activities, rules, invoice rules and the store facade."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from envoice_mock.clock import Clock, iso
from envoice_mock.config import Settings
from envoice_mock.domain import invoices, rules
from envoice_mock.domain.accounts import ID_BLOCK, AccountRegistry
from envoice_mock.domain.activities import ActivityLog
from envoice_mock.domain.errors import AccountLimit, StoreError
from envoice_mock.domain.seeding import seed_account
from envoice_mock.domain.shares import ShareIndex
from envoice_mock.domain.store import Store
from envoice_mock.spec import Spec

from .helpers import START


@pytest.fixture
def store(spec: Spec, settings: Settings) -> Store:
    """A store without a seeder (empty accounts) on a frozen clock."""
    return Store(spec, settings, Clock(origin=START, speed=0.0))


@pytest.fixture
def invoice(store: Store) -> tuple[Any, dict[str, Any]]:
    """An account with one unsent invoice of 100.00 due in 30 days."""
    account = store.add_account("k", "s")
    client = store.create(account, "client", {"Name": "Acme", "ClientCurrencyId": 163})
    row = store.create(
        account,
        "invoice",
        {
            "ClientId": client["Id"],
            "CurrencyId": 163,
            "IssuedOn": iso(START),
            "Duedate": iso(START + timedelta(days=30)),
            "Items": [{"Cost": 50.0, "Quantity": 2.0}],
            "PaymentGateways": [{"Name": "PayPal"}],
        },
    )
    return account, row


# --- accounts --------------------------------------------------------------------------------


def test_any_key_creates_accounts_up_to_the_limit(settings: Settings) -> None:
    from dataclasses import replace

    registry = AccountRegistry(replace(settings, any_key=True, max_accounts=1))
    made = registry.authenticate("a", "s", lambda k, s: registry.own(registry.new_account(k, s)))
    assert made is not None and made.key == "a"
    assert registry.authenticate("a", "wrong", lambda k, s: pytest.fail("no second account")) is None
    with pytest.raises(AccountLimit):
        registry.authenticate("b", "s", lambda k, s: registry.own(registry.new_account(k, s)))


def test_accounts_never_share_an_id_block(settings: Settings) -> None:
    registry = AccountRegistry(settings)
    first = registry.own(registry.new_account("a", "s"))
    second = registry.own(registry.new_account("b", "s", id_base=registry.id_block("a")))
    assert first.id_base != second.id_base
    assert first.id_base % ID_BLOCK == 0


def test_a_block_an_account_grew_into_is_not_handed_to_a_new_account(settings: Settings) -> None:
    registry = AccountRegistry(settings)
    first = registry.own(registry.new_account("a", "s"))
    first.sequences["invoice"] = ID_BLOCK - 1
    grown = first.next_id("invoice")  # the first id of a further block
    assert first.blocks == [first.id_base + ID_BLOCK] and grown == first.blocks[0]
    wanting = (first.id_base + ID_BLOCK) // ID_BLOCK  # a key hashing to the block `a` grew into
    assert registry._free_block(wanting) not in (first.id_base, *first.blocks)
    assert (
        registry._free_block(wanting, reserved=[wanting * ID_BLOCK + ID_BLOCK])
        == wanting * ID_BLOCK + 2 * ID_BLOCK
    )


def test_without_a_seeder_an_account_starts_empty(store: Store) -> None:
    account = store.add_account("k", "s")
    assert account.tables == {} and account.activities == []


def test_the_injected_seeder_fills_the_account_quietly(spec: Spec, settings: Settings) -> None:
    store = Store(spec, settings, Clock(origin=START, speed=0.0), seeder=seed_account)
    heard: list[Any] = []
    store.listeners.append(lambda account, activity: heard.append(activity))
    account = store.add_account("k", "s")
    assert account.table("invoice") and account.activities
    assert heard == []  # seeding is history: no listener hears of it


# --- shares ----------------------------------------------------------------------------------


def test_a_share_link_resolves_only_with_its_own_path_and_id(store: Store) -> None:
    account = store.add_account("k", "s")
    index = ShareIndex(seed=1, base_url="http://mock.test")
    row = {"Id": 7}
    link = index.link(account, "invoice", row)
    assert link.startswith("http://mock.test/invoice/shared?token=")
    token = link.split("token=")[1].split("&")[0]
    opaque = link.split("id=")[1]
    account.table("invoice")[7] = row
    accounts = {"k": account}
    assert index.resolve(accounts, token, "invoice", opaque) == (account, "invoice", row)
    assert index.resolve(accounts, token, "order", opaque) is None
    assert index.resolve(accounts, token, "invoice", opaque + "x") is None
    index.forget("k")
    assert index.resolve(accounts, token, "invoice", opaque) is None


# --- activities ------------------------------------------------------------------------------


def test_an_activity_message_comes_from_its_template(store: Store) -> None:
    account = store.add_account("k", "s")
    log = ActivityLog(
        {"messages": {"Paid": "Invoice {number} was paid"}, "payment": "{client} paid via {gateway}"}
    )
    row = {"Id": 1, "Number": "INV-1", "OrderBillingDetails": {"Name": "Bo"}}
    assert log.message(account, "invoice", row, "Paid", {}) == "Invoice INV-1 was paid"
    assert log.message(account, "invoice", row, "NewPaymentWithStripe", {}) == "Bo paid via Stripe"
    assert log.message(account, "invoice", row, "Viewed", {}) == "Invoice INV-1: Viewed"


def test_a_failed_operation_takes_its_activities_back(
    invoice: tuple[Any, dict[str, Any]], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, row = invoice
    before = list(account.activities)
    heard: list[Any] = []
    store.listeners.append(lambda account, activity: heard.append(activity))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("broken after the Sent activity was recorded")

    monkeypatch.setattr(store, "change_status", broken)
    with pytest.raises(StoreError):
        store.send(account, "invoice", row["Id"], "SentViaEmail")
    assert account.activities == before
    assert heard == []  # listeners hear only of committed activities


# --- rules -----------------------------------------------------------------------------------


def test_prepare_fills_items_and_refuses_bad_figures(store: Store, spec: Spec) -> None:
    account = store.add_account("k", "s")
    tax = store.create(account, "tax", {"Name": "VAT", "Percentage": 20.0})
    row: dict[str, Any] = {"Items": [{"Cost": 10.0, "Quantity": 1.0, "TaxId": tax["Id"]}]}
    rules.prepare(account, spec.resources["invoice"], row, None, spec.enums)
    assert row["Items"][0]["TaxPercentage"] == 20.0 and row["Items"][0]["Id"]
    with pytest.raises(StoreError) as caught:
        rules.check_item_figures({"Items": [{"Cost": -1}]})
    assert caught.value.field == "Items[0].Cost"
    with pytest.raises(StoreError, match="Duedate cannot be before IssuedOn"):
        rules.check_date_order({"IssuedOn": "2024-02-01", "Duedate": "2024-01-01"})


def test_a_transition_error_names_where_the_status_may_go(spec: Spec) -> None:
    with pytest.raises(StoreError, match="it may go nowhere") as caught:
        rules.check_transition(spec.resources["order"], "Refunded", "Processing")
    assert caught.value.code == "InvalidStatusTransition"


# --- invoice rules ---------------------------------------------------------------------------


def test_sending_a_draft_by_email_makes_it_unpaid(invoice: tuple[Any, dict[str, Any]], store: Store) -> None:
    account, row = invoice
    store.send(account, "invoice", row["Id"], "SentToAccountant")
    assert row["Status"] == "Draft"
    store.send(account, "invoice", row["Id"], "SentViaEmail")
    assert row["Status"] == "Unpaid"


def test_marking_paid_adds_a_payment_of_what_was_outstanding(
    invoice: tuple[Any, dict[str, Any]], store: Store
) -> None:
    account, row = invoice
    store.send(account, "invoice", row["Id"], "SentViaEmail")
    store.change_status(account, "invoice", row["Id"], "Paid")
    assert [(p["Amount"], p["Type"], p["Note"]) for p in row["Payments"]] == [
        (100.0, "Other", "Marked as paid")
    ]


def test_a_gateway_payment_uses_the_payment_type_of_payments_yaml(
    invoice: tuple[Any, dict[str, Any]], store: Store
) -> None:
    account, row = invoice
    store.send(account, "invoice", row["Id"], "SentViaEmail")
    store.pay(account, row["Id"], gateway="KlikAndPay", amount=40.0)
    assert row["Payments"][0]["Type"] == "KlikAndPay" and row["Status"] == "Unpaid"
    store.pay(account, row["Id"])
    assert row["Status"] == "Paid"
    types = [a["Type"] for a in account.doc_activities[("invoice", row["Id"])]]
    assert types[-3:] == ["NewPaymentWithKlikAndPay", "NewManualPayment", "Paid"]
    with pytest.raises(StoreError, match="already paid"):
        invoices.check_payable(row, None)


def test_the_sweep_makes_a_fallen_due_invoice_overdue_once(
    invoice: tuple[Any, dict[str, Any]], store: Store
) -> None:
    account, row = invoice
    store.send(account, "invoice", row["Id"], "SentViaEmail")
    invoices.index_due(account, row)  # a second entry for the same invoice is skipped
    assert store.sweep_overdue(account) == 0
    store.clock.advance(31 * 86400)
    assert store.sweep_overdue(account) == 1
    assert row["Status"] == "Overdue"
    assert [a["Type"] for a in account.activities].count("Overdue") == 1


def test_an_estimation_converts_once(store: Store) -> None:
    account = store.add_account("k", "s")
    client = store.create(account, "client", {"Name": "Acme", "DefaultDueDateInDays": 7})
    est = store.create(
        account,
        "estimation",
        {"ClientId": client["Id"], "CurrencyId": 163, "Items": [{"Cost": 5.0, "Quantity": 1.0}]},
    )
    invoice = store.convert(account, est["Id"])
    assert invoice["Status"] == "Draft" and invoice["EstimationId"] == est["Id"]
    assert invoice["Duedate"] == iso(START + timedelta(days=7))
    assert est["Status"] == "Accepted"
    with pytest.raises(StoreError) as caught:
        store.convert(account, est["Id"])
    assert caught.value.code == "AlreadyConverted"
