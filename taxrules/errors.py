"""The one base class of errors that carry a message fit to show a person."""

from __future__ import annotations


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
