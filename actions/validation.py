"""The slots of case forms: how each is extracted and validated (`CaseFormValidation`, one
`extract_<slot>` / `validate_<slot>` pair per slot), and the slot normalisers they use (an
adapter over the domain rules of `taxrules`).

The dialogue hands them Simplified text (the engine converts Traditional before parsing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from taxrules.ids import clean_taxpayer_id, find_taxpayer_id, validate_taxpayer_id
from taxrules.masking import mask_taxpayer_id
from taxrules.periods import (
    PeriodReading,
    PeriodSpan,
    describe_period,
    kinds_in_words,
    not_fileable_reason,
    parse_canonical_period,
    read_period,
)
from taxrules.tax_types import FILING_PERIODS, normalize_tax_type


class NluNormalizers:
    """`actions.ports.Normalizers` backed by the pure functions of `taxrules` (the same rules
    the NLU applies to entities)."""

    def __init__(self, today: Callable[[], date] = date.today) -> None:
        self._today = today

    def tax_period(self, text: str, today: date) -> PeriodReading | None:
        """See `taxrules.periods.read_period`."""
        return read_period(text, today)

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


def _takes_running(tracker: Tracker, domain: Domain) -> bool:
    """Whether the active case type takes a period that is still running (`running:`)."""
    case_type = domain.case_types.get(tracker.active_form or "")
    return case_type is not None and case_type.periods.running


def _refuse_period(dispatcher: CollectingDispatcher, reason: str | None) -> None:
    """Tell why a period is refused, and ask again unless the reason already does."""
    reason = (reason or "无法识别这个所属期").rstrip("。.，, ")
    if "请告诉我" in reason:
        dispatcher.utter_message(response="utter_invalid_tax_period_said", reason=reason)
    else:
        dispatcher.utter_message(response="utter_invalid_tax_period_reason", reason=reason)


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
        """A code-shaped word in the text, also written in groups (checked by
        `validate_taxpayer_id`)."""
        code = find_taxpayer_id(self._text(tracker))
        return {"taxpayer_id": code} if code else {}

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
        piece = clean_taxpayer_id(str(raw or ""))
        whole = find_taxpayer_id(self._text(tracker))
        if piece and whole and piece != whole and piece in whole:
            # The NLU took a piece of an ID written in groups ("9165 0100 MA78 ABCD 1A"):
            # the whole is checked, and refused with its own reason.
            check = self.ctx.normalizers.taxpayer_id(whole)
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
        """A period written in the text ("今年一季度", "2020年3月", "2023年到2025年")."""
        reading = self.ctx.normalizers.tax_period(self._text(tracker), self.ctx.today())
        if reading is None:
            return {}
        return {"tax_period": {"value": reading.text, "text": reading.text}}

    async def validate_tax_period(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """A canonical period (`2019-12`, `2020-Q3`, `2020-H1`, `2021`, `2023..2025`) that has
        ended. The words the taxpayer wrote are read again against the dialogue's clock.
        Whether the case type and the tax type take it is checked in `validate`, once the
        message's tax type is known too."""
        today = self.ctx.today()
        reading = self._reading_of(value)
        if reading is None or (reading.span is None and not reading.error):
            dispatcher.utter_message(response="utter_invalid_tax_period")
            return {"tax_period": None}
        reason = reading.error
        if reading.span is not None and reason is None:
            reason = not_fileable_reason(reading.span, today)
            if reason and reading.span.start <= today and _takes_running(tracker, domain):
                reason = None  # a certificate of what was paid so far this year
        if reason or reading.span is None:
            _refuse_period(dispatcher, reason)
            return {"tax_period": None}
        return {"tax_period": reading.span.canonical}

    def _reading_of(self, value: Any) -> PeriodReading | None:
        written = value.get("text") if isinstance(value, dict) else None
        raw = str(written) if written else _raw(value)
        return self.ctx.normalizers.tax_period(raw, self.ctx.today()) if raw else None

    @staticmethod
    def _case_type_refusal(
        span: PeriodSpan, tracker: Tracker, domain: Domain, *, ranges_only: bool = False
    ) -> str | None:
        """Why the active case type does not take this period (a range, or its kind)."""
        case_type = domain.case_types.get(tracker.active_form or "")
        if case_type is None:
            return None
        rule = case_type.periods
        title = case_type.title.zh_hans
        if span.is_range and not rule.ranges:
            return f"「{title}」一次只能办理一个所属期（{span.words}是多个），请告诉我具体是哪一期"
        if span.kind not in rule.kinds and not ranges_only:
            counted, asked = kinds_in_words(rule.kinds)
            return f"「{title}」的所属期{counted}计，请告诉我具体{asked}"
        return None

    @staticmethod
    def _tax_type_refusal(period: str, tax_type: str, domain: Domain) -> str | None:
        """Why a return of `tax_type` is not filed for a period of this kind
        (`taxrules.tax_types.FILING_PERIODS`)."""
        span = parse_canonical_period(period)
        kinds = FILING_PERIODS.get(tax_type)
        if span is None or kinds is None or span.kind in kinds:
            return None
        counted, asked = kinds_in_words(kinds)
        name = domain.label("tax_type", tax_type)
        return f"{name}{counted}申报，没有“{span.words}”这样的所属期，请告诉我具体{asked}"

    async def validate(
        self,
        candidates: Mapping[str, Any],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Domain,
    ) -> dict[str, Any]:
        """Each candidate (`validate_<slot>`), then the period against the case type and, when
        the case type asks for both, the tax type (a VAT return is monthly or quarterly): the
        period is refused with the reason, whether it came now or earlier (then the form
        clears it and asks again). A period whose year was inferred is echoed."""
        out = await super().validate(candidates, dispatcher, tracker, domain)
        self._check_period_against_tax_type(out, dispatcher, tracker, domain)
        if out.get("tax_period") and "tax_period" in candidates:
            reading = self._reading_of(candidates["tax_period"])
            if reading is not None and reading.inferred and reading.span is not None:
                # "12月" said in December: tell which December was understood.
                dispatcher.utter_message(
                    response="utter_tax_period_inferred",
                    said=reading.text.strip(),
                    period=reading.span.words,
                )
        return out

    def _check_period_against_tax_type(
        self,
        out: dict[str, Any],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Domain,
    ) -> None:
        """The period (given now, or kept from earlier: another case type, before the tax
        type was known) against the case type's rule and the tax's filing periods."""
        case_type = domain.case_types.get(tracker.active_form or "")
        if case_type is None or "tax_period" not in case_type.slots:
            return
        period = out.get("tax_period") if "tax_period" in out else tracker.get_slot("tax_period")
        span = parse_canonical_period(str(period)) if period else None
        if span is None:
            return
        # One period where a range was given, then the tax's filing periods (the more
        # telling reason), then the kinds the case type takes.
        reason = self._case_type_refusal(span, tracker, domain, ranges_only=True)
        tax_type = out.get("tax_type") or tracker.get_slot("tax_type")
        if reason is None and tax_type and "tax_type" in case_type.slots:
            reason = self._tax_type_refusal(span.canonical, str(tax_type), domain)
        reason = reason or self._case_type_refusal(span, tracker, domain)
        if reason:
            _refuse_period(dispatcher, reason)
            out["tax_period"] = None

    def show_tax_period(self, value: Any, domain: Domain) -> str:
        """In words: 2025年第三季度, 2025年12月, 2023年至2025年."""
        return describe_period(str(value))

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
