"""envoice-mock: an offline, stateful sandbox of the Envoice invoicing API v1.

The public API: build an app or a runtime from Settings, verify webhook signatures,
run scenarios, and use the sink receiver in tests.
"""

from envoice_mock.api.app import create_app
from envoice_mock.clock import Clock
from envoice_mock.config import Settings, settings_from_env
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.signing import sign, verify_signature
from envoice_mock.sink import Behaviour, Sink

__all__ = [
    "Behaviour",
    "Clock",
    "Runtime",
    "Settings",
    "Sink",
    "build_runtime",
    "create_app",
    "settings_from_env",
    "sign",
    "verify_signature",
]
__version__ = "0.1.0"
