"""Slot normalisers for the forms: an adapter over `nlu.normalizers`.

`nlu.normalizers` is imported when the adapter is built (not at import time of this module),
so the dialogue can be tested with `testing.dialogue.FakeNormalizers` alone.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from actions.ports import IdCheck

PERIOD_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$")
TAXPAYER_ID_RE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?(?![0-9A-Za-z])")


class NluNormalizers:
    """`actions.ports.Normalizers` backed by the NLU engine's pure normaliser functions."""

    def __init__(self) -> None:
        import importlib

        # The NLU package owns the rules (synonyms, checksum); imported only when used.
        self._n: Any = importlib.import_module("nlu.normalizers")

    def tax_period(self, text: str, today: date) -> str | None:
        """See `nlu.normalizers.normalize_tax_period`."""
        result: str | None = self._n.normalize_tax_period(text, today)
        return result

    def taxpayer_id(self, code: str) -> IdCheck:
        """See `nlu.normalizers.check_taxpayer_id`."""
        check = self._n.check_taxpayer_id(code)
        return IdCheck(valid=bool(check.valid), value=check.value, reason=check.reason)

    def tax_type(self, text: str) -> str | None:
        """See `nlu.normalizers.normalize_tax_type`."""
        result: str | None = self._n.normalize_tax_type(text)
        return result

    def amount(self, text: str) -> Decimal | None:
        """See `nlu.normalizers.normalize_amount`."""
        result: Decimal | None = self._n.normalize_amount(text)
        return result

    def mask(self, code: str) -> str:
        """See `nlu.normalizers.mask_taxpayer_id`."""
        result: str = self._n.mask_taxpayer_id(code)
        return result


def period_start(period: str) -> date | None:
    """First day of a normal-form period (`2019-12`, `2020-Q1`, `2021`)."""
    if not PERIOD_RE.match(period):
        return None
    year = int(period[:4])
    if len(period) == 4:
        return date(year, 1, 1)
    rest = period[5:]
    if rest.startswith("Q"):
        return date(year, (int(rest[1]) - 1) * 3 + 1, 1)
    return date(year, int(rest), 1)
