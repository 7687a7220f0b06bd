"""`python main.py ...` for tests: in this process (`run_main`, the same parser and commands
through `main.main`, settings from the given environment) or as a real subprocess
(`run_subprocess`, for what only a process shows: the entry point, exit codes, streams).

Each interpreter start costs ~2 s of imports (aiogram's pydantic types, mostly), so a walk of a
dozen commands runs in-process after one real subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_subprocess(
    env: Mapping[str, str], *args: str, ok: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python main.py ARGS` in a subprocess with exactly `env`; with `ok`, exit 0 asserted."""
    proc = subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def run_main(
    env: Mapping[str, str], *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """`python main.py ARGS` in this process with exactly `env` as the environment (restored
    afterwards); stdout and stderr captured; argparse's exits become the return code."""
    import main

    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main.main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    proc = subprocess.CompletedProcess(["main.py", *args], code, out.getvalue(), err.getvalue())
    if ok:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc
