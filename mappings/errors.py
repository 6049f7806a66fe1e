"""Errors the pipeline raises: each says where (file, line) and how to fix it."""

from __future__ import annotations

from pathlib import Path


class BuildError(Exception):
    """A problem in the input or the pipeline that stops the build; the previous build stays."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.fix = fix
        super().__init__(self.format())

    def format(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        text = f"{where}{self.message}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class DataError(BuildError):
    """The curated data (YAML, article text) is malformed or inconsistent."""
