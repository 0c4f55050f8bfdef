"""Webhook subscriptions: which URLs each account registered (at most MAX_WEBHOOKS), by id.

Validation of a registration lives here, and so does the limit; the engine adds the delivery
state and the journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

from envoice_mock.clock import Clock, iso
from envoice_mock.delivery.records import Activity, Webhook
from envoice_mock.faults import ApiFault
from envoice_mock.ids import webhook_id
from envoice_mock.spec import MAX_WEBHOOKS


class AccountLike(Protocol):
    """What the delivery layer needs of an account."""

    key: str
    secret: str
    activities: list[Activity]

    def next_id(self, sequence: str) -> int: ...


class WebhookRegistry:
    """Every account's webhooks: `hooks[account key][hook id]`, and `get(hook id)`."""

    def __init__(self, seed: int, clock: Clock) -> None:
        self.seed = seed
        self.clock = clock
        self.hooks: dict[str, dict[str, Webhook]] = {}  # account key -> id -> webhook
        self.by_id: dict[str, Webhook] = {}  # every account's webhooks, by id

    def create(self, account: AccountLike, url: Any, secret: Any = None) -> Webhook:
        """Register a URL for the account (at most MAX_WEBHOOKS; http/https only); bad input is an
        ApiFault naming the field."""
        if not isinstance(url, str) or not url.strip():
            raise ApiFault(400, "Required", "is required (an http:// or https:// URL)", field="Url")
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiFault(400, "InvalidValue", f"{url!r} is not an http:// or https:// URL", field="Url")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ApiFault(400, "InvalidValue", "must be a non-empty string", field="Secret")
        hooks = self.hooks.setdefault(account.key, {})
        if len(hooks) >= MAX_WEBHOOKS:
            raise ApiFault(
                400, "WebhookLimit", f"An account can register at most {MAX_WEBHOOKS} webhooks.", field="Url"
            )
        hook = Webhook(
            id=webhook_id(self.seed, account.key, account.next_id("webhook")),
            account=account.key,
            url=url,
            secret=secret or account.secret,
            created_on=iso(self.clock.now(account.key)),
            since_activity=account.activities[-1]["Id"] if account.activities else 0,
        )
        self.restore(hook)
        return hook

    def restore(self, hook: Webhook) -> None:
        """Put a webhook in (one loaded from a state file, or just created)."""
        self.hooks.setdefault(hook.account, {})[hook.id] = self.by_id[hook.id] = hook

    def remove(self, account_key: str, hook_id: str) -> None:
        """Unregister one of the account's webhooks (404 ApiFault when it has no such webhook)."""
        hooks = self.hooks.get(account_key, {})
        if hook_id not in hooks:
            raise ApiFault(404, "NotFound", f"There is no webhook {hook_id!r}.", field="id")
        del hooks[hook_id]
        self.by_id.pop(hook_id, None)

    def get(self, hook_id: str) -> Webhook | None:
        """A webhook of any account by id (None once removed)."""
        return self.by_id.get(hook_id)

    def of(self, account_key: str | None = None) -> Iterable[Webhook]:
        """The account's webhooks (or every account's), in registration order."""
        if account_key is not None:
            return self.hooks.get(account_key, {}).values()
        return [h for hooks in self.hooks.values() for h in hooks.values()]
