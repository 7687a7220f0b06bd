"""The NLU's glue between entity text and the domain rules of `taxrules`.

The rules themselves — tax periods, taxpayer IDs, tax types, amounts, Chinese numerals —
live in `taxrules` and read Simplified text. This module holds what is NLU-specific: the
script step (`to_simplified`, NFKC + OpenCC `t2s`, the converter created once, lazily) and
`normalize_entities`, which gives the extracted entities their normal forms:

* tax_period: ``"2019-12"`` (month), ``"2020-Q1"`` (quarter), ``"2020-H1"`` (half-year),
  ``"2021"`` (year), ``"2023..2025"`` (a range); relative expressions (上个月, 去年12月, 上季度,
  前年 …) resolve against the parse date. The period is read from the whole message
  (`taxrules.periods.read_period`), not from the span an extractor marked: the CRF marks
  "2月" in "12月" or "5年3季度" in "25年3季度", and the regex only "2025" in "2025年Q3". The
  entity keeps the words it was read from in `text`, so the dialogue can read them again
  against its own clock; an impossible period (2025年13月) is `invalid` with the reason;
* taxpayer_id: an 18-character unified social credit code or an 18-digit resident identity
  number, upper-cased and without spaces (see `taxrules.ids`; 15-character numbers are
  refused with their reason);
* tax_type: a canonical key such as ``vat``, ``cit``, ``iit``, ``stamp``;
* amount: a decimal string in yuan.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any

from taxrules.amounts import normalize_amount
from taxrules.errors import InvalidTaxpayerIdError
from taxrules.ids import clean_taxpayer_id, grouped_taxpayer_ids, validate_taxpayer_id
from taxrules.periods import read_period
from taxrules.tax_types import normalize_tax_type

__all__ = ["normalize_entities", "to_simplified"]


@lru_cache(maxsize=1)
def _t2s_converter() -> Callable[[str], str]:
    import opencc  # imported lazily: building the converter reads its dictionaries

    converter: Callable[[str], str] = opencc.OpenCC("t2s").convert
    return converter


def to_simplified(text: str) -> str:
    """Return ``text`` in Simplified Chinese with full-width ASCII folded (NFKC + OpenCC t2s)."""
    folded = unicodedata.normalize("NFKC", text)
    if folded.isascii():
        return folded
    return _t2s_converter()(folded)


def normalize_entities(
    entities: list[dict[str, Any]],
    norm_text: str,
    today: date,
    kinds: dict[str, str],
    tax_synonyms: dict[str, str] | None = None,
    known_tax_types: set[str] | None = None,
) -> None:
    """Give tax_period / taxpayer_id / tax_type / amount entities their normal form, in place.

    `norm_text` is the message's Simplified text (the OpenCC step ran before). A value that
    cannot be normalised (a wrong check digit, an impossible birth date, an unreadable period)
    stays in the list with `invalid: true` and a Chinese `reason`, so the dialogue can tell the
    user why.
    `kinds` maps an entity name to the normaliser it uses.
    """
    _read_grouped_ids(entities, norm_text, kinds)
    _read_tax_period(entities, norm_text, today, kinds)
    for entity in entities:
        kind = kinds.get(entity["entity"])
        if kind is None:
            continue
        span = norm_text[entity["start"] : entity["end"]]
        reason: str | None = None
        if kind == "taxpayer_id":
            entity["value"] = clean_taxpayer_id(span)
            try:
                validate_taxpayer_id(span, today=today)
            except InvalidTaxpayerIdError as exc:
                reason = exc.user_message
        elif kind == "tax_period":
            if "text" not in entity:  # not read from the whole message: nothing readable
                reason = "无法识别这个所属期，请写成例如 2019年12月 或 2020年第一季度"
        elif kind == "tax_type":
            value = entity["value"]
            if not (known_tax_types and value in known_tax_types):
                value = normalize_tax_type(span, tax_synonyms) or (
                    normalize_tax_type(to_simplified(str(value)), tax_synonyms)
                )
            if value is None:
                reason = "无法识别这个税种"
            else:
                entity["value"] = value
        elif kind == "amount":
            amount = normalize_amount(span)
            if amount is None:
                reason = "无法识别这个金额，请写成例如 3000元 或 1.25万"
            else:
                entity["value"] = str(amount)
        if reason is not None:
            entity["invalid"] = True
            entity["reason"] = reason


_PERIOD_EXTRACTOR = "TaxEntityNormalizer"


def _read_grouped_ids(
    entities: list[dict[str, Any]], norm_text: str, kinds: dict[str, str]
) -> None:
    """An ID written in groups ("1101 0119 9003 0712 33") is one taxpayer_id entity: the
    pieces an extractor guessed inside it (a period "900", an amount "3") are dropped."""
    names = [name for name, kind in kinds.items() if kind == "taxpayer_id"]
    spans = grouped_taxpayer_ids(norm_text) if names else []
    for start, end in spans:
        entities[:] = [e for e in entities if e["end"] <= start or end <= e["start"]]
        entities.append(
            {"entity": names[0], "start": start, "end": end, "extractor": _PERIOD_EXTRACTOR}
        )
    entities.sort(key=lambda e: e["start"])


def _read_tax_period(
    entities: list[dict[str, Any]], norm_text: str, today: date, kinds: dict[str, str]
) -> None:
    """Replace the extractors' tax_period entities (when there are any) by the one period
    the whole message names, and drop the other entities an extractor guessed inside it
    (the CRF's taxpayer_id "1" in "2025年13月")."""
    names = [name for name, kind in kinds.items() if kind == "tax_period"]
    if not names:
        return
    marked = [e for e in entities if e["entity"] in names]
    if not marked:
        # No extractor saw a period ("12月3日前能办好吗" answering another question is no
        # period to overwrite); the form reads the text itself while the slot is empty.
        return
    reading = read_period(norm_text, today)
    if reading is None:
        return
    name = marked[0]["entity"]

    def inside(entity: dict[str, Any]) -> bool:
        return entity["start"] < reading.end and reading.start < entity["end"]

    entities[:] = [
        e
        for e in entities
        if e["entity"] not in names
        and not (inside(e) and (e.get("extractor") == "CRFEntityExtractor" or e.get("invalid")))
    ]
    same = [e for e in marked if (e["start"], e["end"]) == (reading.start, reading.end)]
    entity: dict[str, Any] = dict(same[0]) if same else {"extractor": _PERIOD_EXTRACTOR}
    entity.update(
        entity=name,
        start=reading.start,
        end=reading.end,
        value=reading.span.canonical if reading.span else reading.text,
        text=reading.text,
    )
    entity.pop("invalid", None)
    entity.pop("reason", None)
    if reading.inferred:
        entity["inferred"] = True
    if reading.error:
        entity["invalid"] = True
        entity["reason"] = reading.error
    entities.append(entity)
