"""YAML with line numbers: every mapping and list remembers where it and its entries start.

A scenario file's errors must point at a line (`FILE:LINE: ...`), so the document is read
with a SafeLoader whose mappings and sequences are `dict` and `list` subclasses carrying
the 1-based line of each key, value and item. Scalars are PyYAML's usual safe types.
Duplicate keys are recorded (YAML keeps the last silently; a smoke test must not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000  # values in the document with every alias expanded: far beyond any scenario file


class LMap(dict):
    """A mapping that knows its line, the line of each key and of each value."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.key_line: dict[Any, int] = {}
        self.value_line: dict[Any, int] = {}
        self.duplicates: list[tuple[Any, int]] = []

    def line_of(self, key: Any) -> int:
        return self.key_line.get(key, self.line)

    def vline(self, key: Any) -> int:
        return self.value_line.get(key, self.line_of(key))


class LList(list):
    """A list that knows its line and the line of each item."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.item_line: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_line[index] if 0 <= index < len(self.item_line) else self.line


class ReadError(ValueError):
    """The file cannot be read or is not YAML; `line` where the parser stopped (0: the file)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LMap:
    loader.flatten_mapping(node)
    out = LMap()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise ReadError("a mapping key must be a plain value", key_node.start_mark.line + 1) from None
        if key in out:
            out.duplicates.append((key, key_node.start_mark.line + 1))
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_line[key] = key_node.start_mark.line + 1
        out.value_line[key] = value_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList()
    out.line = node.start_mark.line + 1
    for item in node.value:
        out.append(loader.construct_object(item, deep=True))
        out.item_line.append(item.start_mark.line + 1)
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)  # type: ignore[arg-type]
_Loader.add_constructor("tag:yaml.org,2002:seq", _sequence)  # type: ignore[arg-type]


def expanded_size(root: yaml.Node | None, limit: int = MAX_NODES) -> int:
    """How many values the document holds once every alias is expanded, counted without expanding.

    Aliases make a graph of the node tree: a few lines can stand for billions of values
    ("billion laughs"), which later walks of the document would visit one by one. The
    count is memoised per node, so it costs one pass over the distinct nodes; it stops
    growing past `limit`, and a node that contains itself is refused.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise ReadError("an alias refers to a node that contains it", node.start_mark.line + 1)
        visiting.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        visiting.discard(key)
        sizes[key] = min(total, limit + 1)
        return sizes[key]

    return size(root) if root is not None else 0


def parse_text(text: str) -> Any:
    """One YAML document with line information; ReadError (with the line) when it is not YAML."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        if expanded_size(root) > MAX_NODES:
            raise ReadError(f"the document expands to more than {MAX_NODES} values (aliases of aliases): "
                            "write the values out, or use fewer aliases", 1)
        return yaml.load(text, Loader=_Loader)
    except ReadError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        context = getattr(exc, "context", None)
        message = f"not valid YAML: {problem}" + (f" ({context})" if context else "")
        raise ReadError(message, mark.line + 1 if mark is not None else 0) from None
    except RecursionError:
        raise ReadError("the document is nested too deeply") from None


def read_file(path: str | Path) -> Any:
    """Read and parse a scenario file, bounded; ReadError with a one-line reason."""
    p = Path(path)
    try:
        if not p.is_file():
            raise ReadError("no such file" if not p.exists() else "not a regular file")
        with p.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ReadError(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise ReadError("not UTF-8 text") from None
    return parse_text(text)
