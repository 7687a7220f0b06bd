"""The component interface and the registry that maps `config.yml` names to classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

from nlu.errors import ConfigError
from nlu.message import Message
from nlu.training_data import TrainingData

_REGISTRY: dict[str, type[Component]] = {}


class Component:
    """One pipeline step (Rasa's GraphComponent, simplified).

    Lifecycle: `__init__(config)` → `train(data, messages)` → `process(messages)`;
    `persist(directory)` writes what `load(config, directory)` needs to rebuild it.
    `process` must be cheap per message: everything heavy is built in `train`/`load`.
    """

    name: ClassVar[str] = "Component"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        merged = self.get_default_config()
        unknown = set(config or {}) - set(merged) - {"name"}
        if unknown:
            raise ConfigError(f"{self.name}: unknown option(s) {', '.join(sorted(unknown))}")
        merged.update({k: v for k, v in (config or {}).items() if k != "name"})
        self.config = merged

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        """Options and their defaults; `config.yml` may override any of them."""
        return {}

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        """Learn from the training data; `messages` went through the earlier components."""

    def process(self, messages: list[Message]) -> None:
        """Add this component's output to each message."""
        raise NotImplementedError

    def persist(self, directory: Path) -> None:
        """Write the trained state into `directory` (created by the caller)."""

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        """Rebuild a trained component from `persist`'s output."""
        return cls(config)


def register(cls: type[Component]) -> type[Component]:
    """Class decorator: make a component available under its `name`."""
    _REGISTRY[cls.name] = cls
    return cls


def get_component_class(name: str) -> type[Component]:
    """The class registered as `name`, or a `ConfigError` listing the known names."""
    from nlu import components  # noqa: F401  (imports every module so they register)

    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown component `{name}` (known: {known})") from None


def registered_names() -> list[str]:
    """Names of every registered component."""
    from nlu import components  # noqa: F401

    return sorted(_REGISTRY)
