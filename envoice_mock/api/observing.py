"""Everything that lets a person or a script watch the mock, plugged into the app in one place:
the event stream and request journal (live), the API description and docs (docs), and the
dashboard (ui)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from envoice_mock.api.docs import docs_routes
from envoice_mock.api.journal import CallNotes, JournalMiddleware
from envoice_mock.api.live import attach_answer_capture, end_streams_on_exit_signals, install, live_routes
from envoice_mock.api.ui import ui_routes

if TYPE_CHECKING:
    from envoice_mock.runtime.wiring import Runtime


def observed_routes() -> list[BaseRoute]:
    """The routes of the event stream, journal, attempt detail, API docs and dashboard."""
    return [*live_routes(), *docs_routes(), *ui_routes()]


def observing_middleware(app: Starlette, runtime: Runtime) -> CallNotes:
    """Install the request journal as the app's outermost middleware; answers what notes calls
    (the API's operations, served before the app, note themselves with it)."""
    live = install(runtime)
    notes = CallNotes(live.journal, live.bus, runtime.store, runtime.clock.seconds)
    app.add_middleware(JournalMiddleware, notes=notes)
    return notes


def start_observing(runtime: Runtime) -> None:
    """Once the webhook dispatcher runs: capture what receivers answer; end streams on a stop."""
    attach_answer_capture(runtime)
    end_streams_on_exit_signals(runtime)
