"""Tax-office domain rules, free of any framework and of the rest of the project.

A leaf package: taxpayer identifiers, tax periods, amounts, tax types, Chinese numerals,
masking, and the base class of errors that carry a message for the user. `nlu`, `actions`,
`desk`, `intake`, `bot` and the application import it; it imports none of them.
"""
