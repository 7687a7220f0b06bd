"""A trained sequence of components: training, processing, persistence."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from nlu.components import Component, get_component_class
from nlu.config import NluConfig
from nlu.errors import ModelLoadError
from nlu.message import Message
from nlu.training_data import TrainingData


class Pipeline:
    """The components of `config.yml`, in order."""

    def __init__(self, components: list[Component]) -> None:
        self.components = components
        self.training_accuracy: float | None = None

    @classmethod
    def from_config(cls, config: NluConfig) -> Pipeline:
        """Untrained components as `config.pipeline` lists them."""
        return cls([get_component_class(item["name"])(item) for item in config.pipeline])

    def train(self, data: TrainingData) -> Pipeline:
        """Train every component in order on the examples; returns self."""
        messages = [Message(ex.text, gold=ex) for ex in data.examples]
        for component in self.components:
            component.train(data, messages)
            component.process(messages)
        if messages:
            hits = sum(
                1
                for m in messages
                if m.gold is not None and _top_intent(m.intent_ranking) == m.gold.intent
            )
            self.training_accuracy = round(hits / len(messages), 4)
        return self

    def process(self, messages: list[Message]) -> list[Message]:
        """Run all components over the messages."""
        for component in self.components:
            component.process(messages)
        return messages

    def parse(self, text: str, today: date | None = None) -> dict[str, Any]:
        """Parse one text into Rasa's parse shape."""
        message = Message(text, today=today)
        for component in self.components:
            component.process([message])
        return message.as_parse()

    def parse_many(self, texts: list[str], today: date | None = None) -> list[dict[str, Any]]:
        """Parse a batch of texts."""
        messages = [Message(t, today=today) for t in texts]
        return [m.as_parse() for m in self.process(messages)]

    def persist(self, directory: Path) -> list[dict[str, Any]]:
        """Write each component into `directory/<index>_<name>/`; returns the manifest."""
        manifest = []
        for index, component in enumerate(self.components):
            sub = f"{index:02d}_{component.name}"
            (directory / sub).mkdir(parents=True, exist_ok=True)
            component.persist(directory / sub)
            manifest.append({"name": component.name, "dir": sub, "config": component.config})
        (directory / "pipeline.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1)
        )
        return manifest

    @classmethod
    def load(cls, directory: Path) -> Pipeline:
        """Rebuild a persisted pipeline."""
        try:
            manifest = json.loads((directory / "pipeline.json").read_text())
            components = [
                get_component_class(item["name"]).load(item["config"], directory / item["dir"])
                for item in manifest
            ]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(directory, f"{type(exc).__name__}: {exc}") from exc
        return cls(components)


def _top_intent(ranking: list[dict[str, Any]]) -> str | None:
    """The classifier's best intent, ignoring a fallback entry."""
    for item in ranking:
        if item["name"] != "nlu_fallback":
            return str(item["name"])
    return None
