"""`Interpreter`: the one object the rest of taxdesk uses to understand a message."""

from __future__ import annotations

import asyncio
import gc
from datetime import date
from pathlib import Path
from typing import Any

from nlu.config import load_config
from nlu.model_store import load_model, read_metadata
from nlu.pipeline import Pipeline
from nlu.rasa_http import RasaHttpBackend

#: Texts up to this length are parsed on the event loop (≈0.2 ms for 2 characters, ≈1.3 ms
#: for 47 on the shared benchmark machine; the time grows with the length). A thread hop
#: and the GIL hand-over cost more than that; longer texts still go to a worker thread.
INLINE_PARSE_CHARS = 64


class Interpreter:
    """Parses texts with a trained local pipeline or a remote Rasa server.

    Build it with `Interpreter.load(...)` once per process and share it; `parse` is thread-safe
    for concurrent readers and takes well under a millisecond for the local pipeline.
    """

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        model_dir: Path | None = None,
        backend: RasaHttpBackend | None = None,
    ) -> None:
        if (pipeline is None) == (backend is None):
            raise ValueError("give exactly one of pipeline or backend")
        self.pipeline = pipeline
        self.model_dir = model_dir
        self.backend = backend
        self.metadata: dict[str, Any] = read_metadata(model_dir) if model_dir else {}
        # The model's dictionaries are long-lived: move them out of the cyclic GC's sight so a
        # full collection during a parse does not walk them (this keeps p99 latency low).
        gc.collect()
        gc.freeze()

    @classmethod
    def load(cls, models_dir: Path | None = None, config_path: Path | None = None) -> Interpreter:
        """The newest model under `models_dir` (default `models/`), or the remote backend when
        `config_path` (default `config.yml`) sets `nlu_backend`.

        Raises `ModelNotFoundError` / `ModelLoadError` / `ConfigError` (all `NluError`).
        """
        config = load_config(config_path if config_path is not None else Path("config.yml"))
        if config.backend is not None:
            return cls(backend=RasaHttpBackend(config.backend))
        pipeline, model_dir = load_model(None, models_dir or Path("models"))
        return cls(pipeline=pipeline, model_dir=model_dir)

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> Interpreter:
        """A specific model directory."""
        pipeline, model_dir = load_model(model_dir)
        return cls(pipeline=pipeline, model_dir=model_dir)

    @property
    def is_remote(self) -> bool:
        """True when parses come from a Rasa server."""
        return self.backend is not None

    def parse(self, text: str, today: date | None = None) -> dict[str, Any]:
        """Rasa's parse shape: `text`, `intent`, `intent_ranking`, `entities` (offsets into
        `text`, normalised `value`; invalid taxpayer ids carry `invalid` and `reason`).
        `today` anchors relative periods (default: the current date)."""
        if self.pipeline is not None:
            return self.pipeline.parse(text, today)
        assert self.backend is not None
        return self.backend.parse(text, today)

    async def aparse(self, text: str, today: date | None = None) -> dict[str, Any]:
        """`parse` for event-loop callers: the remote backend over aiohttp; the local
        pipeline on the loop for short texts (up to `INLINE_PARSE_CHARS`, about a millisecond
        of CPU: less than the thread hop costs, measured in `bench/inbound.py`), in a worker
        thread for longer ones. Raises `NluBackendUnavailable` when the server is down."""
        if self.backend is not None:
            return await self.backend.aparse(text, today)
        if len(text) <= INLINE_PARSE_CHARS:
            return self.parse(text, today)
        return await asyncio.to_thread(self.parse, text, today)

    async def aclose(self) -> None:
        """Release the HTTP session of a remote backend (no-op for local models)."""
        if self.backend is not None:
            await self.backend.aclose()
