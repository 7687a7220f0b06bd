"""taxdesk — the command line.

Every command is registered by the package that owns it (`app.commands`, `nlu.cli`,
`desk.cli`); this module only builds the parser, reads the settings once and dispatches to
them; the composition root is `app`. Run `python main.py --help` for the list.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from app import commands as app_commands
from app.settings import Settings
from desk import cli as desk_cli
from nlu import cli as nlu_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py", description="taxdesk — a chatbot service desk for tax offices."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    app_commands.register(sub)
    nlu_cli.register(sub)
    desk_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.handler(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
