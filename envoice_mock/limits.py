"""Limits that stop one caller from taking the server down; each refusal names its limit.

Values are generous for any test or demo, and small enough that no request can exhaust the
server's memory or overflow its clock.
"""

from __future__ import annotations

from datetime import timedelta

from envoice_mock.faults import ApiFault

MAX_CLOCK_ADVANCE = 100 * 365 * 86400.0  # virtual seconds a clock may be moved in total
DEFAULT_MAX_ACCOUNTS = 5000  # accounts the server holds, sandbox-key too (--max-accounts)
MAX_CHAOS_RULES = 50  # active chaos rules per account
MAX_DUPLICATE_COPIES = 10  # copies of one delivery
MAX_CHAOS_COUNT = 1000  # attempts, activities or deliveries one chaos rule (or replay) may affect


def check_clock_advance(advanced: float, seconds: float, origin_year: int) -> None:
    """Refuse (400) an advance past MAX_CLOCK_ADVANCE in total or past the calendar's end."""
    total = advanced + seconds
    if total > MAX_CLOCK_ADVANCE or origin_year + total / (365.25 * 86400) > 9000:
        raise ApiFault(
            400,
            "ClockLimit",
            f"The clock may be advanced by at most {timedelta(seconds=MAX_CLOCK_ADVANCE).days} days in "
            f"total (limit); it has been advanced {advanced / 86400:.1f} days already.",
            field="seconds",
        )
