"""Slot normalisers for the forms: an adapter over the domain rules of `taxrules`.

The dialogue hands them Simplified text (the engine converts Traditional before parsing).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from actions.ports import IdCheck
from taxrules.amounts import normalize_amount
from taxrules.errors import InvalidTaxpayerIdError
from taxrules.ids import clean_taxpayer_id, validate_taxpayer_id
from taxrules.masking import mask_taxpayer_id
from taxrules.periods import normalize_tax_period
from taxrules.tax_types import normalize_tax_type


class NluNormalizers:
    """`actions.ports.Normalizers` backed by the pure functions of `taxrules` (the same rules
    the NLU applies to entities)."""

    def __init__(self, today: Callable[[], date] = date.today) -> None:
        self._today = today

    def tax_period(self, text: str, today: date) -> str | None:
        """See `taxrules.periods.normalize_tax_period`."""
        return normalize_tax_period(text, today)

    def taxpayer_id(self, code: str) -> IdCheck:
        """See `taxrules.ids.validate_taxpayer_id` (the reason is Simplified; the dispatcher
        converts replies to the taxpayer's script)."""
        try:
            value = validate_taxpayer_id(code, today=self._today())
        except InvalidTaxpayerIdError as exc:
            return IdCheck(valid=False, value=clean_taxpayer_id(code), reason=exc.user_message)
        return IdCheck(valid=True, value=value, reason=None)

    def tax_type(self, text: str) -> str | None:
        """See `taxrules.tax_types.normalize_tax_type`."""
        return normalize_tax_type(text)

    def amount(self, text: str) -> Decimal | None:
        """See `taxrules.amounts.normalize_amount`."""
        return normalize_amount(text)

    def mask(self, code: str) -> str:
        """See `taxrules.masking.mask_taxpayer_id`."""
        return mask_taxpayer_id(code)
