"""The ``graphls`` command line: ``graphls train|tune|report|datasets``.

The parser imports nothing heavy: torch, PyG, Optuna and matplotlib are
imported inside the command that needs them, so ``graphls --help`` and
argument errors answer at once.

Exit status: 0 on success, 2 for bad input (one line on stderr, no
traceback), 1 for a run that failed.

This package is the only place that parses arguments or prints: :func:`main`
(here) runs a command and turns its errors into exit statuses;
:mod:`graphls.cli.parser` builds the parser; :mod:`graphls.cli.commands` holds
the command bodies and the tables they print. ``python -m graphls.cli`` is
the ``graphls`` command.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from graphls._signals import sigterm_as_interrupt
from graphls.cli.commands import (
    UsageError,
    check_device,
    check_writable_dir,
    config_from_args,
    format_recall,
    format_table,
)
from graphls.cli.parser import PROG, build_parser

__all__ = [
    "UsageError",
    "build_parser",
    "check_device",
    "check_writable_dir",
    "config_from_args",
    "format_recall",
    "format_table",
    "main",
    "sigterm_as_interrupt",
]


def _one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _warning_printer(prog: str) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints one line, ``PROG COMMAND: warning: message``,
    without Python's ``file:line: Category`` prefix and echoed source line."""
    stream = sys.stderr

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        print(f"{prog}: warning: {' '.join(str(message).split())}", file=file or stream)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``graphls`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    prog = f"{PROG} {args.command}"
    try:
        with sigterm_as_interrupt(), warnings.catch_warnings():
            warnings.showwarning = _warning_printer(prog)
            return int(args.handler(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, PermissionError) as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a run that failed: still one line, exit 1
        if os.environ.get("GRAPHLS_DEBUG"):
            raise
        print(f"{prog}: failed: {type(exc).__name__}: {_one_line(exc)} "
              "(set GRAPHLS_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
