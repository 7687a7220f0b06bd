"""`config.yml`: the NLU pipeline in Rasa's shape, plus an optional remote backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nlu.errors import ConfigError

DEFAULT_PIPELINE: list[dict[str, Any]] = [
    {"name": "OpenCCNormalizer"},
    {"name": "JiebaTokenizer"},
    {"name": "RegexEntityExtractor"},
    {"name": "CountVectorsFeaturizer", "analyzer": "word", "min_ngram": 1, "max_ngram": 2},
    {"name": "CountVectorsFeaturizer", "analyzer": "char", "min_ngram": 1, "max_ngram": 3},
    {"name": "CountVectorsFeaturizer", "analyzer": "pinyin", "min_ngram": 1, "max_ngram": 2},
    {"name": "CRFEntityExtractor"},
    {"name": "EntityFeaturizer", "weight": 0.2},
    {"name": "SklearnIntentClassifier"},
    {"name": "EntitySynonymMapper"},
    {"name": "TaxEntityNormalizer"},
    {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
]


@dataclass(frozen=True)
class BackendConfig:
    """A remote NLU server (`nlu_backend:` in config.yml); only `rasa_http` exists."""

    type: str
    url: str
    token: str | None = None
    timeout: float = 5.0

    def __repr__(self) -> str:  # never print the token
        return f"BackendConfig(type={self.type!r}, url={self.url!r}, timeout={self.timeout})"


@dataclass(frozen=True)
class NluConfig:
    """The parsed `config.yml` (only the parts the NLU engine uses)."""

    language: str = "zh"
    pipeline: list[dict[str, Any]] = field(default_factory=lambda: list(DEFAULT_PIPELINE))
    backend: BackendConfig | None = None
    path: Path | None = None

    def pipeline_fingerprint_view(self) -> dict[str, Any]:
        """What a trained model depends on (the backend does not)."""
        return {"language": self.language, "pipeline": self.pipeline}


def parse_config(raw: Any, path: Path | None = None, lines: list[int] | None = None) -> NluConfig:
    """Validate a loaded `config.yml` mapping (`lines`: the line of each pipeline item)."""
    where = str(path) if path else "config"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping with `language` and `pipeline`")
    language = str(raw.get("language", "zh"))
    pipeline = raw.get("pipeline") or list(DEFAULT_PIPELINE)
    if not isinstance(pipeline, list) or not all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in pipeline
    ):
        raise ConfigError(f"{where}: `pipeline` must be a list of `- name: Component` items")
    from nlu.components import get_component_class

    for index, item in enumerate(pipeline):
        try:
            get_component_class(item["name"])(item)
        except ConfigError as exc:
            line = f":{lines[index]}" if lines and index < len(lines) else ""
            raise ConfigError(f"{where}{line}: {str(exc).split(': ', 1)[-1]}") from None
    backend = None
    backend_raw = raw.get("nlu_backend")
    if backend_raw:
        if not isinstance(backend_raw, dict) or backend_raw.get("type") != "rasa_http":
            raise ConfigError(f"{where}: `nlu_backend.type` must be `rasa_http`")
        if not backend_raw.get("url"):
            raise ConfigError(f"{where}: `nlu_backend.url` is required")
        backend = BackendConfig(
            type="rasa_http",
            url=str(backend_raw["url"]).rstrip("/"),
            token=None if backend_raw.get("token") is None else str(backend_raw["token"]),
            timeout=float(backend_raw.get("timeout", 5.0)),
        )
    return NluConfig(language=language, pipeline=pipeline, backend=backend, path=path)


def load_config(path: Path | None) -> NluConfig:
    """Read `config.yml`; a missing file means the default pipeline."""
    if path is None or not path.exists():
        return NluConfig(path=path)
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{line}: YAML syntax error: {problem}") from None
    lines: list[int] = []
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if getattr(key, "value", None) == "pipeline" and isinstance(value, yaml.SequenceNode):
                lines = [item.start_mark.line + 1 for item in value.value]
    return parse_config(raw, path, lines)
