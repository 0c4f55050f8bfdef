"""Response headers that keep browsers safe: no content sniffing anywhere, and a strict
Content-Security-Policy on the HTML share pages (they need inline styles, nothing else) and on
the dashboard and docs pages (scripts, styles and data from this origin only)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SHARE_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

# The dashboard: its own scripts and styles, nothing inline, data from this origin only.
DASHBOARD_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# /docs: the same, but Swagger UI sets inline styles.
DOCS_POLICY = DASHBOARD_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


class NoSniff:
    """Adds `X-Content-Type-Options: nosniff` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-content-type-options" for name, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)
