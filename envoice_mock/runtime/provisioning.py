"""The accounts and webhooks declared at start (fixtures, --account, --webhook), applied
idempotently: on a fresh start they are created, on a restore they are laid on top of the
restored state (a missing account is seeded, a changed secret updated, a webhook URL the
account already has is not registered twice)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envoice_mock.config import Settings, SettingsError
from envoice_mock.faults import ApiFault

if TYPE_CHECKING:
    from envoice_mock.delivery.webhooks import WebhookEngine
    from envoice_mock.domain.store import Store
    from envoice_mock.spec import Spec


def provision(store: Store, webhooks: WebhookEngine, spec: Spec, settings: Settings) -> None:
    """Make sure every declared account and webhook exists (flags win over fixtures)."""
    declared = {a["key"]: a for a in spec.accounts}
    pairs = [(k, a["secret"]) for k, a in declared.items()] + list(settings.all_accounts)
    for key, secret in dict(pairs).items():
        account = store.add_account(key, secret)
        if account.secret != secret:
            account.secret = secret
            if store.journal:
                store.journal.save_account(account)
        entry = declared.get(key, {})
        urls = [(u, entry.get("webhook_secret")) for u in entry.get("webhooks", [])]
        if key == settings.all_accounts[0][0]:
            urls += [(u, None) for u in settings.webhooks]
        have = {hook.url for hook in webhooks.hooks.get(key, {}).values()}
        for url, secret_ in urls:
            if isinstance(url, str) and url.strip() in have:
                continue
            try:
                webhooks.add(account, url, secret_)
            except ApiFault as fault:
                raise SettingsError(f"webhook {url!r} of account {key}: {fault.message}") from None
            have.add(url.strip())
