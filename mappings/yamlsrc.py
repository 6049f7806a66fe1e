"""Read YAML keeping the line of every mapping and key, so errors can name file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import DataError


@dataclass
class Located:
    """A YAML mapping with the line of the mapping and of each of its keys (1-based)."""

    values: dict[str, Any]
    line: int
    key_lines: dict[str, int]
    path: Path

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)

    def error(self, message: str, key: str | None = None, fix: str | None = None) -> DataError:
        return DataError(
            message, path=self.path, line=self.line_of(key) if key else self.line, fix=fix
        )


def _convert(node: yaml.Node, path: Path) -> Any:
    if isinstance(node, yaml.MappingNode):
        values: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, path)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise DataError(
                    f"key {key!r} is not text",
                    path=path,
                    line=line,
                    fix="write keys as plain words",
                )
            if key in values:
                raise DataError(
                    f"key {key!r} appears twice in this entry",
                    path=path,
                    line=line,
                    fix=f"keep one {key!r} and put several values in a list",
                )
            values[key] = _convert(value_node, path)
            key_lines[key] = line
        return Located(values, node.start_mark.line + 1, key_lines, path)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path) for item in node.value]
    # scalars: PyYAML's safe constructor gives the usual Python value (str, int, bool, ...)
    return yaml.SafeLoader("").construct_object(node, deep=True)


def read_text(path: Path) -> str:
    """A UTF-8 text file; anything else is a DataError naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})",
            path=path,
            fix="save the file as UTF-8",
        ) from None


def load_mapping(path: Path, fix: str) -> Located | None:
    """A YAML file that must hold one mapping (or nothing)."""
    data = load(path)
    if data is not None and not isinstance(data, Located):
        raise DataError(
            f"{path.name} must be a mapping of keys to values", path=path, line=1, fix=fix
        )
    return data


def load(path: Path) -> Any:
    """Parse a YAML file into Located mappings, lists and scalars; a syntax error names the line."""
    text = read_text(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark else None
        if isinstance(exc, yaml.reader.ReaderError):  # a control character: no mark, a position
            problem = f"character {exc.character!r} is not allowed in YAML"
            line = text.count("\n", 0, exc.position) + 1
        raise DataError(
            f"malformed YAML: {problem}",
            path=path,
            line=line,
            fix="check the indentation and quoting on this line (quote text that contains ': ' "
            "or starts with a quote mark)",
        ) from None
    if node is None:
        return None
    try:
        return _convert(node, path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(
            f"malformed YAML value: {exc}", path=path, line=mark.line + 1 if mark else None
        ) from None
