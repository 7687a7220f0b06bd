"""Typed exceptions of the NLU engine, each with a user-facing Chinese message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class NluError(Exception):
    """Base class of every NLU engine error; `str(error)` is safe to show to an admin."""


@dataclass(frozen=True)
class DataProblem:
    """One problem found in a training-data file, located like `rasa data validate` does."""

    file: Path
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


class TrainingDataError(NluError):
    """The training data is invalid; carries every problem found (file, line, problem)."""

    def __init__(self, problems: list[DataProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"训练数据有 {len(problems)} 处错误 (invalid training data):\n{lines}")


class ConfigError(NluError):
    """`config.yml` is missing, unreadable or names an unknown component."""

    def __init__(self, message: str) -> None:
        super().__init__(f"NLU 配置错误 (config error): {message}")


class ModelNotFoundError(NluError):
    """No trained model exists where one was expected."""

    def __init__(self, where: Path) -> None:
        self.where = where
        super().__init__(
            f"在 {where} 没有找到训练好的模型，请先运行 `python main.py train` "
            f"(no trained model in {where})"
        )


class ModelLoadError(NluError):
    """A model directory exists but cannot be loaded (corrupt or from another version)."""

    def __init__(self, where: Path, reason: str) -> None:
        self.where = where
        super().__init__(f"模型 {where} 无法加载：{reason}")


class NluBackendUnavailable(NluError):
    """The remote NLU backend (a Rasa server) did not answer in time or answered an error."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"NLU 服务暂时不可用 ({url})：{reason}")
