"""Edits of the Rasa YAML training data under `data/`, as the studio makes them.

The files stay what `main.py train` reads and what version control shows: an edit changes the
lines of one example or one `- intent:` header and nothing else (comments, order and the
other blocks are kept). An example is added to the `examples: |` block of the file that holds
its intent; a new intent goes into `nlu_studio.yml` (created when needed). Every edit is
checked before it is written: the changed file must load (`nlu.training_data`), or the edit is
refused with the loader's message and nothing is written. Files are replaced atomically.
Blocking file work: call from a thread.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from nlu.errors import NluError
from nlu.training_data import (
    TrainingData,
    iter_data_files,
    load_training_data,
    parse_annotated,
    parse_training_text,
)

STUDIO_FILE = "nlu_studio.yml"
INTENT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_HEADER_RE = re.compile(r"^- intent:\s*(?P<name>\S+)\s*(#.*)?$")
_EXAMPLE_RE = re.compile(r"^(?P<indent>\s+)- (?P<text>.*)$")
_LOCK = threading.Lock()  # one edit at a time in this process


class DataEditError(NluError):
    """An edit refused; `str()` is the Chinese message for the admin."""


class DuplicateExample(DataEditError):
    """The intent already has this example (the same words)."""


@dataclass(frozen=True)
class Located:
    """Where an intent's block is: the file, the header line and the example lines."""

    path: Path
    header: int  # index of the `- intent:` line
    examples: list[int]  # indexes of its `- example` lines
    block_end: int  # index after the block's last line


def load(data_dir: Path) -> TrainingData:
    """The training data of `data_dir`."""
    return load_training_data([data_dir])


def _nlu_files(data_dir: Path) -> list[Path]:
    out = []
    for path in iter_data_files([data_dir]):
        text = path.read_text(encoding="utf-8")
        if re.search(r"^nlu\s*:", text, re.MULTILINE):
            out.append(path)
    return out


def _locate(lines: list[str], intent: str, path: Path) -> Located | None:
    for i, line in enumerate(lines):
        m = _HEADER_RE.match(line)
        if m is None or m.group("name") != intent:
            continue
        examples: list[int] = []
        j = i + 1
        in_block = False
        while j < len(lines) and not lines[j].startswith("- ") and not re.match(r"^\S", lines[j]):
            stripped = lines[j].strip()
            if stripped.startswith("examples:"):
                if stripped.rstrip() not in ("examples: |", "examples: |-", "examples: |+"):
                    raise DataEditError(
                        f"{path.name} 中意图 {intent} 的样例不是 “examples: |” 格式，"
                        "请在文件中修改。"
                    )
                in_block = True
            elif in_block and _EXAMPLE_RE.match(lines[j]):
                examples.append(j)
            j += 1
        return Located(path, i, examples, j)
    return None


def _find(data_dir: Path, intent: str) -> tuple[Located, list[str]] | None:
    for path in _nlu_files(data_dir):
        lines = path.read_text(encoding="utf-8").split("\n")
        where = _locate(lines, intent, path)
        if where is not None:
            return where, lines
    return None


def _check_example(annotated: str) -> str:
    annotated = annotated.strip()
    if not annotated or "\n" in annotated or "\r" in annotated:
        raise DataEditError("样例不能为空，也不能换行。")
    plain, _entities, problems = parse_annotated(annotated)
    if problems:
        raise DataEditError("实体标注有误：" + "；".join(problems))
    if not plain.strip():
        raise DataEditError("样例不能为空。")
    return annotated


def _write(path: Path, lines: list[str]) -> None:
    text = "\n".join(lines)
    _, problems = parse_training_text(text, path)
    if problems:
        raise DataEditError("修改未保存：" + "；".join(str(p.problem) for p in problems))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _plain(line: str) -> str:
    m = _EXAMPLE_RE.match(line)
    return parse_annotated(m.group("text"))[0] if m else ""


def add_example(data_dir: Path, intent: str, annotated: str) -> Path:
    """Add an example (Rasa annotation allowed) to `intent`, creating the intent in
    `nlu_studio.yml` when it is new. Returns the file written."""
    annotated = _check_example(annotated)
    if not INTENT_NAME_RE.match(intent):
        raise DataEditError("意图名只能由英文字母、数字和下划线组成，且不以数字开头。")
    with _LOCK:
        plain = parse_annotated(annotated)[0]
        found = _find(data_dir, intent)
        if found is not None:
            where, lines = found
            if any(_plain(lines[i]) == plain for i in where.examples):
                raise DuplicateExample(f"意图 {intent} 已有这个样例。")
            if where.examples:
                last = where.examples[-1]
                indent = _EXAMPLE_RE.match(lines[last]).group("indent")  # type: ignore[union-attr]
                lines.insert(last + 1, f"{indent}- {annotated}")
            else:
                raise DataEditError(
                    f"{where.path.name} 中意图 {intent} 没有样例块，请在文件中修改。"
                )
            _write(where.path, lines)
            return where.path
        path = data_dir / STUDIO_FILE
        if path.is_file():
            lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
        else:
            lines = [
                'version: "3.1"',
                "",
                "# Intents added in the console's studio (issue 11); edit freely, Rasa format.",
                "",
                "nlu:",
            ]
        lines += [f"- intent: {intent}", "  examples: |", f"    - {annotated}", ""]
        _write(path, lines)
        return path


def _example_line(data_dir: Path, intent: str, plain: str) -> tuple[Located, list[str], int]:
    found = _find(data_dir, intent)
    if found is None:
        raise DataEditError(f"找不到意图 {intent}。")
    where, lines = found
    for i in where.examples:
        if _plain(lines[i]) == plain:
            return where, lines, i
    raise DataEditError("找不到这个样例，可能已被修改，请刷新页面。")


def delete_example(data_dir: Path, intent: str, plain: str) -> Path:
    """Delete the example whose plain text is `plain` from `intent`."""
    with _LOCK:
        where, lines, i = _example_line(data_dir, intent, plain)
        if len(where.examples) == 1:
            raise DataEditError("这是该意图的最后一个样例，不能删除（可改名或删除整个意图）。")
        del lines[i]
        _write(where.path, lines)
        return where.path


def edit_example(data_dir: Path, intent: str, plain: str, annotated: str) -> Path:
    """Replace the example `plain` of `intent` with `annotated`."""
    annotated = _check_example(annotated)
    with _LOCK:
        where, lines, i = _example_line(data_dir, intent, plain)
        indent = _EXAMPLE_RE.match(lines[i]).group("indent")  # type: ignore[union-attr]
        lines[i] = f"{indent}- {annotated}"
        _write(where.path, lines)
        return where.path


def references(data_dir: Path, intent: str) -> list[str]:
    """The dialogue files (rules, domain) that name `intent` as a word."""
    word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(intent)}(?![A-Za-z0-9_])")
    out = []
    for name in ("rules.yml", "domain.yml", "stories.yml"):
        path = data_dir / name
        if path.is_file() and word.search(path.read_text(encoding="utf-8")):
            out.append(name)
    return out


FAQ_FILE = "faq.yml"
_FAQ_KEY_RE = re.compile(r"^(?P<indent>  )(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(#.*)?$")


def faq_key_line(lines: list[str], intent: str) -> int | None:
    """The index of `intent`'s key under `faq:` in faq.yml's lines (two spaces in), or None."""
    in_faq = False
    for i, line in enumerate(lines):
        if re.match(r"^\S", line):
            in_faq = line.split("#")[0].strip() == "faq:"
            continue
        m = _FAQ_KEY_RE.match(line)
        if in_faq and m is not None and m.group("name") == intent:
            return i
    return None


def rename_intent(data_dir: Path, old: str, new: str) -> list[Path]:
    """Rename `old` to `new` in every NLU file, and its answers' key in faq.yml (an answer
    follows its intent). Refused when `new` exists (examples or answers) or the dialogue
    (rules.yml, domain.yml) names `old`: renaming would silently change what the bot does."""
    if not INTENT_NAME_RE.match(new):
        raise DataEditError("意图名只能由英文字母、数字和下划线组成，且不以数字开头。")
    with _LOCK:
        if _find(data_dir, new) is not None:
            raise DataEditError(f"意图 {new} 已存在。")
        used = references(data_dir, old)
        if used:
            raise DataEditError(
                f"对话规则引用了意图 {old}（{'、'.join(used)}），不能在此改名；"
                "请开发人员一并修改。"
            )
        faq = data_dir / FAQ_FILE
        faq_lines = faq.read_text(encoding="utf-8").split("\n") if faq.is_file() else []
        if faq_key_line(faq_lines, new) is not None:
            raise DataEditError(f"常见问题答案中已有意图 {new} 的答案。")
        answer = faq_key_line(faq_lines, old)
        written = []
        for path in _nlu_files(data_dir):
            lines = path.read_text(encoding="utf-8").split("\n")
            changed = False
            for i, line in enumerate(lines):
                m = _HEADER_RE.match(line)
                if m is not None and m.group("name") == old:
                    lines[i] = line.replace(f"intent: {old}", f"intent: {new}", 1)
                    changed = True
            if changed:
                _write(path, lines)
                written.append(path)
        if not written:
            raise DataEditError(f"找不到意图 {old}。")
        if answer is not None:
            faq_lines[answer] = faq_lines[answer].replace(old, new, 1)
            tmp = faq.with_name(f".{faq.name}.{os.getpid()}.tmp")
            tmp.write_text("\n".join(faq_lines), encoding="utf-8")
            os.replace(tmp, faq)
            written.append(faq)
        return written
