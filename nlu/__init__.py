"""The NLU engine: Rasa-format data, a component pipeline, training, evaluation, model store.

Other parts of taxdesk use `nlu.Interpreter` (`Interpreter.load(...)`, `.parse(text)`,
`await .aparse(text)`); importing this package stays cheap until then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nlu.errors import NluBackendUnavailable, NluError
    from nlu.interpreter import Interpreter

__all__ = ["Interpreter", "NluBackendUnavailable", "NluError"]


def __getattr__(name: str) -> Any:
    if name == "Interpreter":
        from nlu.interpreter import Interpreter

        return Interpreter
    if name in ("NluError", "NluBackendUnavailable"):
        from nlu import errors

        return getattr(errors, name)
    raise AttributeError(name)
