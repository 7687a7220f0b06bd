"""Command line of the NLU engine: `train`, `nlu parse`, `nlu test`, `nlu shell`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from nlu.errors import NluError


def register(sub: Any) -> None:
    """Register `train` and `nlu parse|test|shell` on the main parser's subparsers."""
    train = sub.add_parser("train", help="train the NLU model if data or config changed")
    train.add_argument(
        "--data",
        type=Path,
        nargs="+",
        default=[Path("data")],
        help="training data files or directories (default: data/)",
    )
    train.add_argument(
        "--config", type=Path, default=None, help="pipeline config (default: config.yml)"
    )
    train.add_argument("--out", type=Path, default=None, help="model store (default: models/)")
    train.add_argument("--force", action="store_true", help="train even if nothing changed")
    train.add_argument(
        "--keep",
        type=int,
        default=None,
        help="models kept in the store, newest first; the active one is never deleted "
        "(default: keep_models in config.yml, 5; 0 keeps all)",
    )
    train.set_defaults(handler=_cmd_train)

    nlu = sub.add_parser("nlu", help="parse, evaluate or try the NLU model")
    nlu_sub = nlu.add_subparsers(dest="nlu_command", required=True, metavar="ACTION")

    parse = nlu_sub.add_parser("parse", help="print the parse of TEXT as JSON")
    parse.add_argument("text")
    _model_options(parse)
    parse.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="resolve relative periods against this date (YYYY-MM-DD)",
    )
    parse.set_defaults(handler=_cmd_parse)

    test = nlu_sub.add_parser("test", help="evaluate a model, or cross-validate the pipeline")
    test.add_argument(
        "--data",
        type=Path,
        nargs="+",
        default=[Path("data")],
        help="Rasa-format test data (files or directories)",
    )
    _model_options(test)
    test.add_argument(
        "--cross-validation",
        action="store_true",
        help="cross-validate the pipeline of --config on the data",
    )
    test.add_argument("--folds", type=int, default=5)
    test.add_argument(
        "--out",
        type=Path,
        default=Path("reports/nlu"),
        help="where report.json, errors.json, confusion_matrix.png go",
    )
    test.add_argument("--json", action="store_true", help="print one JSON object")
    test.set_defaults(handler=_cmd_test)

    shell_cmd = nlu_sub.add_parser("shell", help="parse lines typed in the terminal")
    _model_options(shell_cmd)
    shell_cmd.set_defaults(handler=lambda args, settings: shell(settings, args.model, args))


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a model directory, or a model store whose newest model is used "
        "(default: the newest under models/)",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="pipeline config (default: config.yml)"
    )


def _paths(args: argparse.Namespace, settings: Any) -> tuple[Path, Path]:
    config = getattr(args, "config", None) or Path(settings.nlu_config)
    out = getattr(args, "out", None) if args.handler is _cmd_train else None
    return config, out or Path(settings.models_dir)


def _interpreter(args: argparse.Namespace | None, settings: Any, model: Path | None) -> Any:
    from nlu.interpreter import Interpreter

    if model is not None:
        return Interpreter.from_model_dir(model)
    config = getattr(args, "config", None) if args else None
    return Interpreter.load(Path(settings.models_dir), config or Path(settings.nlu_config))


def _fail(error: NluError) -> int:
    print(str(error), file=sys.stderr)
    return 1


def _cmd_train(args: argparse.Namespace, settings: Any) -> int:
    from nlu.model_store import train_model

    config, out = _paths(args, settings)
    try:
        result = train_model(args.data, config, out, force=args.force, keep=args.keep)
    except NluError as error:
        return _fail(error)
    if result.skipped:
        print(f"数据和配置没有变化，沿用模型 {result.model_dir} (unchanged, training skipped)")
    else:
        from nlu.active import activate
        from nlu.model_store import ACTIVE_FILE

        if (out / ACTIVE_FILE).is_file():  # the studio pinned a model: the CLI's model wins
            activate(out, result.model_dir.name, by="main.py train")
        metrics = result.metrics
        print(
            f"trained {result.model_dir} in {result.seconds:.2f} s: "
            f"{metrics['examples']} examples, {metrics['intents']} intents, "
            f"training accuracy {metrics['training_intent_accuracy']}"
        )
    return 0


def _cmd_parse(args: argparse.Namespace, settings: Any) -> int:
    try:
        interpreter = _interpreter(args, settings, args.model)
        result = interpreter.parse(args.text, args.today)
    except NluError as error:
        return _fail(error)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _cmd_test(args: argparse.Namespace, settings: Any) -> int:
    from nlu.config import load_config
    from nlu.evaluation import cross_validate, evaluate, format_summary, write_reports
    from nlu.training_data import load_training_data

    try:
        data = load_training_data(args.data)
        if args.cross_validation:
            config = load_config(args.config or Path(settings.nlu_config))
            result = cross_validate(data, config, folds=args.folds)
        else:
            interpreter = _interpreter(args, settings, args.model)
            if interpreter.pipeline is not None:
                result = evaluate(interpreter.pipeline.parse_many, data)
            else:
                result = evaluate(lambda texts: [interpreter.parse(t) for t in texts], data)
    except NluError as error:
        return _fail(error)
    paths = write_reports(result, args.out)
    if args.json:
        report = result.as_dict()
        report["files"] = {k: str(v) for k, v in paths.items()}
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_summary(result))
        print(f"\nreports: {', '.join(str(p) for p in paths.values())}")
    return 0


def shell(
    settings: Any,
    model: Path | None = None,
    args: argparse.Namespace | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Parse lines typed in the terminal until EOF (Ctrl-D) or `/exit`."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    try:
        interpreter = _interpreter(args, settings, model)
    except NluError as error:
        return _fail(error)
    interactive = stdin.isatty()
    while True:
        if interactive:
            stdout.write("你> ")
            stdout.flush()
        line = stdin.readline()
        if not line or line.strip() in ("/exit", "/quit"):
            break
        text = line.strip()
        if not text:
            continue
        try:
            result = interpreter.parse(text)
        except NluError as error:
            stdout.write(f"{error}\n")
            continue
        stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        stdout.flush()
    return 0
