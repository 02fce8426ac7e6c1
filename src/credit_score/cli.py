"""What every command of this package shares: its name, its exit codes in ``--help``, one-line usage errors.

A newcomer reads ``--help`` first and a build log reads the last line: so each command names itself
(``prog``, never ``python -m ...``), lists its exit codes under its options, and fails a bad argument in
one line (``credit-score-serve: error: ... (see --help)``) with the command's usage code (2, as
argparse's own, except where 2 already means something: the drift report's alert). Standard library
only, and no house imports it but the commands' own modules.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from typing import IO, Any

__all__ = ["USAGE_EXIT", "CommandParser", "PlainText", "plain_streams"]

USAGE_EXIT = 2
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _exit_code_text(codes: Mapping[int, str]) -> str:
    return "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in sorted(codes.items()))


class _Formatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal; indented lines (the exit-code table) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        for paragraph in text.splitlines():
            if paragraph.startswith("  ") or not paragraph:
                lines.append(indent + paragraph)
            else:
                lines.append(super()._fill_text(paragraph, width, indent))
        return "\n".join(lines)


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose help ends with the exit codes and whose usage errors are one line."""

    def __init__(
        self, *args: Any, exit_codes: Mapping[int, str] | None = None, usage_exit: int = USAGE_EXIT, **kwargs: Any
    ) -> None:
        codes = dict(exit_codes or {})
        codes.setdefault(usage_exit, "usage error (a bad or missing argument)")
        if "epilog" not in kwargs:
            kwargs["epilog"] = _exit_code_text(codes)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.exit_codes = codes
        self.usage_exit = usage_exit

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(self.usage_exit, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


class PlainText:
    """A text stream that drops ANSI colour and cursor codes (MLflow colours its warnings even into a file)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(_ANSI.sub("", text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def plain_streams() -> None:
    """Strip colour codes from stdout and stderr unless they are terminals."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, PlainText) and not stream.isatty():
            setattr(sys, name, PlainText(stream))
