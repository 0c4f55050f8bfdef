"""The start-up banner: what a person needs to know and open once the server listens."""

from __future__ import annotations

from typing import Any

from envoice_mock.config import DEFAULT_KEY
from envoice_mock.runtime.wiring import Runtime

# Pages a person opens in a browser, shown when the app serves them (path -> label).
PAGES = {"/_mock/ui": "dashboard", "/docs": "API docs"}


def banner_fields(runtime: Runtime, version: str, paths: set[str] | None = None) -> dict[str, Any]:
    """What the banner says, as data (the JSON log format prints this object)."""
    settings = runtime.settings
    base = settings.base_url
    clock = runtime.clock
    speed = getattr(clock, "speed", settings.clock_speed)
    if settings.clock_start is None and speed == 1:
        clock_text = f"wall clock (now {clock.now():%Y-%m-%dT%H:%M:%SZ})"
    else:
        moves = "moves only when advanced" if speed == 0 else f"{speed:g} virtual seconds per second"
        origin = getattr(clock, "origin", settings.clock_start)
        clock_text = f"virtual, starts {origin:%Y-%m-%dT%H:%M:%SZ}, {moves}"
    hooks = [
        f"{h['Url']} ({key})"
        for key, account in runtime.store.accounts.items()
        for h in runtime.webhooks.describe(account)
    ]
    fields: dict[str, Any] = {
        "version": version,
        "url": base,
        "bound": f"{settings.host}:{settings.port}",
        "health": f"{base}/_mock/health",
        "accounts": [key for key in runtime.store.accounts],
        "any_key": settings.any_key,
        "webhooks": hooks,
        "state": str(settings.state_file) if settings.state_file else "memory",
        "clock": clock_text,
        "enum_style": settings.enum_style,
        "seed": settings.seed,
        "operations": len(runtime.spec.operations),
        "models": len(runtime.spec.models),
        "fixtures": str(settings.fixtures),
    }
    share = _share_example(runtime)
    if share:
        fields["share_page"] = share
    for path, label in PAGES.items():
        if paths and path in paths:
            fields[label.replace(" ", "_").lower()] = f"{base}{path}"
    return fields


def banner_lines(fields: dict[str, Any]) -> list[str]:
    """The banner as aligned text lines."""
    accounts = ", ".join(fields["accounts"]) + (
        "  (+ any key/secret gets its own account)" if fields["any_key"] else ""
    )
    rows = []
    if not fields["url"].endswith(f"//{fields['bound']}"):
        rows.append(("bound to", fields["bound"]))  # --public-url names another address
    rows += [
        ("accounts", accounts),
        ("webhooks", ", ".join(fields["webhooks"]) or "none (POST /_mock/webhooks or --webhook URL)"),
        (
            "state",
            fields["state"] if fields["state"] == "memory" else f"{fields['state']} (survives restarts)",
        ),
        ("clock", fields["clock"]),
        ("enums", f"{fields['enum_style']} (a request may ask with header x-mock-enum-style)"),
        ("data", f"{fields['operations']} operations, {fields['models']} models, seed {fields['seed']}"),
        ("health", fields["health"]),
    ]
    if "share_page" in fields:
        rows.append(("share page", fields["share_page"]))
    rows += [
        (label, fields[label.replace(" ", "_").lower()])
        for label in PAGES.values()
        if label.replace(" ", "_").lower() in fields
    ]
    lines = [f"envoice-mock {fields['version']} listening on {fields['url']}"]
    lines += [f"  {name:<11} {value}" for name, value in rows]
    return lines


def _share_example(runtime: Runtime) -> str | None:
    """The share page of the default account's first invoice, if there is one."""
    account = runtime.store.accounts.get(DEFAULT_KEY)
    if account is None:
        return None
    invoices = account.table("invoice")
    if not invoices:
        return None
    try:
        return runtime.store.share_link(account, "invoice", invoices[min(invoices)])
    except Exception:  # the banner never stops a start; the link is a convenience
        return None
