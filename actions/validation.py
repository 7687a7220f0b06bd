"""The slots of case forms: how each is extracted and validated (`CaseFormValidation`, one
`extract_<slot>` / `validate_<slot>` pair per slot), and the slot normalisers they use (an
adapter over the domain rules of `taxrules`).

The dialogue hands them Simplified text (the engine converts Traditional before parsing).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from actions.base import FormValidationAction
from actions.dispatcher import CollectingDispatcher
from actions.domain import Domain
from actions.ports import IdCheck
from actions.tracker import Tracker
from taxrules.amounts import normalize_amount
from taxrules.errors import InvalidTaxpayerIdError
from taxrules.ids import TAXPAYER_ID_RE, clean_taxpayer_id, validate_taxpayer_id
from taxrules.masking import mask_taxpayer_id
from taxrules.periods import PERIOD_RE, normalize_tax_period, period_start
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


def _raw(value: Any) -> str:
    """The text of a candidate: an entity dict's `value`, or the string itself."""
    return str(value.get("value") if isinstance(value, dict) else value or "").strip()


class CaseFormValidation(FormValidationAction):
    """The slots of the case forms (`data/case_types.yml` names which a case type asks).
    Candidates are entity dicts (from the NLU or a button) or strings (from `extract_<slot>`);
    validated values are normal forms: an 18-character code, `2019-12` / `2020-Q1` / `2021`,
    a tax type key, an amount in yuan as a decimal string."""

    @staticmethod
    def _text(tracker: Tracker) -> str:
        return str(tracker.latest_message.get("text") or "")

    # ------------------------------------------------------------------ taxpayer_id

    async def extract_taxpayer_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """A code-shaped word in the text (checked by `validate_taxpayer_id`)."""
        match = TAXPAYER_ID_RE.search(self._text(tracker))
        return {"taxpayer_id": match.group(0)} if match else {}

    async def validate_taxpayer_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """Checksum-verified 18-char code; a refusal tells the reason."""
        raw = value.get("value") if isinstance(value, dict) else value
        check = self.ctx.normalizers.taxpayer_id(str(raw or ""))
        if isinstance(value, dict) and value.get("invalid") and check.valid:
            check = check.__class__(False, check.value, value.get("reason") or check.reason)
        if check.valid and check.value:
            return {"taxpayer_id": check.value}
        reason = (check.reason or "纳税人识别号不正确").rstrip("。.，, ")
        # The NLU's reasons usually say what to do already ("…请核对后重新输入").
        response = (
            "utter_invalid_taxpayer_id_reason"
            if "重新输入" in reason
            else "utter_invalid_taxpayer_id"
        )
        dispatcher.utter_message(response=response, reason=reason)
        return {"taxpayer_id": None}

    def show_taxpayer_id(self, value: Any, domain: Domain) -> str:
        """Masked: `9131****12G`."""
        return self.ctx.normalizers.mask(str(value))

    # ------------------------------------------------------------------ tax_period

    async def extract_tax_period(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """A period written in the text ("今年一季度", "2020年3月")."""
        period = self.ctx.normalizers.tax_period(self._text(tracker), self.ctx.today())
        return {"tax_period": period} if period else {}

    async def validate_tax_period(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """`2019-12`, `2020-Q1` or `2021`, not in the future."""
        raw = _raw(value)
        today = self.ctx.today()
        period = raw if PERIOD_RE.match(raw) else self.ctx.normalizers.tax_period(raw, today)
        start = period_start(period) if period else None
        if period is None or start is None:
            dispatcher.utter_message(response="utter_invalid_tax_period")
            return {"tax_period": None}
        if start > today:
            dispatcher.utter_message(response="utter_future_tax_period", period=period)
            return {"tax_period": None}
        return {"tax_period": period}

    # ------------------------------------------------------------------ tax_type

    async def extract_tax_type(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """A tax named in the text ("个税")."""
        key = self.ctx.normalizers.tax_type(self._text(tracker))
        return {"tax_type": key} if key else {}

    async def validate_tax_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """A canonical tax type key (vat, cit, iit, stamp, ...)."""
        raw = _raw(value)
        known = domain.labels.get("tax_type", {})
        key = raw if raw in known else self.ctx.normalizers.tax_type(raw)
        if not key:
            dispatcher.utter_message(response="utter_invalid_tax_type")
            return {"tax_type": None}
        return {"tax_type": key}

    def show_tax_type(self, value: Any, domain: Domain) -> str:
        """The tax's name (`labels.tax_type` in domain.yml)."""
        return domain.label("tax_type", value)

    # ------------------------------------------------------------------ amount

    async def extract_amount(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """An amount in the text, only when the form asked for it (other answers carry
        numbers that are no amount: periods, codes)."""
        if tracker.requested_slot != "amount":
            return {}
        amount = self.ctx.normalizers.amount(self._text(tracker))
        return {"amount": str(amount)} if amount is not None else {}

    async def validate_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """A positive amount in yuan, kept as a decimal string."""
        raw = _raw(value)
        amount: Decimal | None
        try:
            amount = Decimal(raw)
        except (InvalidOperation, ValueError):
            amount = self.ctx.normalizers.amount(raw)
        if amount is None or not amount.is_finite() or amount <= 0:
            dispatcher.utter_message(response="utter_invalid_amount")
            return {"amount": None}
        return {"amount": str(amount)}

    def show_amount(self, value: Any, domain: Domain) -> str:
        """`3000 元`."""
        return f"{value} 元"
