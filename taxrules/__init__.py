"""Tax-office domain rules, free of any framework and of the rest of the project.

A leaf package: taxpayer identifiers, tax periods, amounts, tax types, Chinese numerals,
masking, and the base class of errors that carry a message for the user. `nlu`, `actions`,
`desk`, `intake`, `bot` and the application import it; it imports none of them (only the
standard library: no script converter, so user-facing texts are held in both scripts).

- `taxrules.ids`: `validate_taxpayer_id` (credit codes, resident ID numbers; 15-character
  numbers refused), `TAXPAYER_ID_RE`, `find_taxpayer_id` (also an ID written in groups)
- `taxrules.masking`: `mask_taxpayer_id`, `redact_taxpayer_ids`
- `taxrules.periods`: `read_period` (the period a message names, inferred or refused with
  the reason), `not_fileable_reason`, `describe_period` (canonical → words),
  `normalize_tax_period`, `PERIOD_RE`
- `taxrules.amounts`: `normalize_amount`
- `taxrules.tax_types`: `TAX_TYPE_KEYS`, `normalize_tax_type`, `FILING_PERIODS`
- `taxrules.numerals`: Chinese numerals
- `taxrules.errors`: `UserFacingError`, `InvalidTaxpayerIdError`

The parsers read Simplified text (full-width forms are folded here); callers holding
Traditional text convert it first, as the NLU does with OpenCC.
"""
