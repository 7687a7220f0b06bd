"""The one base class of errors that carry a message fit to show a person, and the domain
rules' own errors."""

from __future__ import annotations

from typing import Literal

Script = Literal["hans", "hant"]
"""The script a message is written in: Simplified (`hans`) or Traditional (`hant`) Chinese."""


class UserFacingError(Exception):
    """An error whose `user_message` (Simplified Chinese unless the subclass says otherwise)
    can be shown to the taxpayer or staff member as it is. Channels turn it into a reply in
    one place; anything that is not a `UserFacingError` is logged and answered with an
    apology instead."""

    def __init__(self, message: str, user_message: str | None = None) -> None:
        super().__init__(message)
        self._user_message = user_message if user_message is not None else message

    @property
    def user_message(self) -> str:
        return self._user_message


class InvalidTaxpayerIdError(UserFacingError):
    """A taxpayer ID that `taxrules.ids.validate_taxpayer_id` refused.

    `reason` is a stable machine code (`format`, `check_digit`, `legacy_15`, `birth_date`,
    `future_birth_date`); `user_message` tells the person why, in the script asked for, and
    `user_messages` holds both scripts. `masked` is the value as `mask_taxpayer_id` shows
    it; the English `str()` never contains the full ID.
    """

    code = "invalid_taxpayer_id"

    def __init__(
        self,
        reason: str,
        masked: str,
        user_messages: dict[Script, str],
        script: Script = "hans",
        kind: str | None = None,
    ) -> None:
        super().__init__(f"invalid taxpayer id {masked} ({reason})", user_messages[script])
        self.reason = reason
        self.masked = masked
        self.kind = kind
        self.user_messages = dict(user_messages)

    def message_in(self, script: Script) -> str:
        """The user-facing reason in `script`."""
        return self.user_messages[script]
