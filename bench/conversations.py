"""The conversation regression benchmark (issue 9, "Measured").

Replays the written conversations of `bench/conversations/*.yml` (format: that folder's
README.md) through the real NLU model, the real `DialogueEngine` and a real desk on SQLite in a
temporary directory, each conversation in a fresh chat at a fixed time (Tuesday 1 December 2026,
10:00 Beijing), with staff steps through the desk services. Every turn is checked against what
issue 9 and DIALOGUES.md ask for (intent, reply kinds, slots, the case submitted, refusals).

Prints the share of conversations that end as expected and of checked turns, per category, and
each failing conversation with its first mismatch; the last line is one JSON object.

The figures are absolute shares, set against two baselines: the floor kept in
`bench/conversations/floor.json` (what passed when it was last raised), reported as
`vs_floor` = pass rate / floor, and the same replay in the same run with the NLU replaced by a
keyword list (`testing.conversations.KeywordInterpreter`), reported as `vs_keywords` (`--no-
baseline` skips that second replay). The floor may only rise: `tests/testing/test_conversations.py`
fails `make test` when the pass rate drops below it. Target: ≥ 0.95 once issue 9 has landed.

Run: `.venv/bin/python bench/conversations.py [--models models/] [--only CATEGORY]
[--name PART] [--show] [--quiet]` (`--show` prints every turn of the replayed conversations)
(without a model in `--models`, one is trained from data/ into a temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testing.conversations import (  # noqa: E402
    FLOOR_FILE,
    KeywordInterpreter,
    Report,
    load_conversations,
    read_floor,
    replay,
)


def load_interpreter(models: Path) -> Any:
    """The newest model in `models`, or one trained from data/ into a temporary directory."""
    from nlu.interpreter import Interpreter
    from nlu.model_store import train_model

    if not any(models.glob("*/")):
        models = Path(tempfile.mkdtemp(prefix="convbench-models-"))
        train_model([ROOT / "data"], ROOT / "config.yml", models)
    return Interpreter.load(models, ROOT / "config.yml")


def print_turns(report: Report) -> None:
    """Every step of every conversation: what was sent, the reply kinds and text, the verdict."""
    for result in report.results:
        verdict = "ok" if result.passed else "FAILED"
        print(f"== {result.conversation.category}/{result.conversation.name}: {verdict}")
        for t in result.turns:
            mark = "  " if t.mismatch is None else "✗ "
            print(f"{mark}{t.index}. {t.sent}")
            if t.kinds or t.text:
                print(f"     {t.kinds}: " + t.text.replace("\n", " ⏎ "))
            if t.mismatch:
                print(f"     expected: {t.mismatch}")
        if result.error:
            print(f"   error: {result.error}")
    print()


def print_report(
    report: Report,
    floor: float,
    seconds: float,
    *,
    quiet: bool,
    baseline: Report | None = None,
) -> None:
    if not quiet:
        for block in report.failures():
            print(block)
        print()
    print(f"{'category':<16} {'passed':>8}  share")
    for category, (passed, total) in report.by_category().items():
        print(f"{category:<16} {passed:>3}/{total:<4}  {passed / total:.2f}")
    rate = report.conversation_pass_rate
    print(
        f"\nconversations: {report.conversations}, ending as expected: {rate:.1%} "
        f"(floor {floor:.1%}); turns checked: {report.turns}, as expected: "
        f"{report.turn_pass_rate:.1%}; replayed in {seconds:.1f} s"
    )
    base_rate = baseline.conversation_pass_rate if baseline is not None else None
    if baseline is not None:
        print(
            f"baseline, keyword NLU: {baseline.conversation_pass_rate:.1%} of conversations, "
            f"{baseline.turn_pass_rate:.1%} of turns"
        )
    print(
        json.dumps(
            {
                "conversations": report.conversations,
                "conversation_pass_rate": rate,
                "turns": report.turns,
                "turn_pass_rate": report.turn_pass_rate,
                "floor": floor,
                "vs_floor": round(rate / floor, 4) if floor else None,
                "keyword_baseline_pass_rate": base_rate,
                "vs_keywords": round(rate / base_rate, 4) if base_rate else None,
                "categories": {c: round(p / t, 4) for c, (p, t) in report.by_category().items()},
                "failing": [r.conversation.name for r in report.results if not r.passed],
                "seconds": round(seconds, 2),
            },
            ensure_ascii=False,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--only", help="replay one category")
    parser.add_argument("--name", help="replay the conversations whose name contains this")
    parser.add_argument("--show", action="store_true", help="print every turn of every replay")
    parser.add_argument("--quiet", action="store_true", help="no list of failing conversations")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the replay with the keyword baseline"
    )
    args = parser.parse_args()
    conversations = load_conversations()
    if args.only:
        conversations = [c for c in conversations if c.category == args.only]
    if args.name:
        conversations = [c for c in conversations if args.name in c.name]
    interpreter = load_interpreter(args.models)
    start = time.perf_counter()
    report = asyncio.run(replay(conversations, interpreter))
    if args.show:
        print_turns(report)
    seconds = time.perf_counter() - start
    baseline = None
    if not args.no_baseline:
        baseline = asyncio.run(replay(conversations, KeywordInterpreter()))
    print_report(report, read_floor(FLOOR_FILE), seconds, quiet=args.quiet, baseline=baseline)


if __name__ == "__main__":
    main()
