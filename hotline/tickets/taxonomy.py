"""The four-level classification (四级问题分类): domain → problem type → problem form →
responsibility item, the last naming the department that owns the matter.

Loaded from a CSV data file (``config/taxonomy.csv``), one node per row::

    code,parent,level,name,department
    01,,1,城市管理,
    0101,01,2,共享单车管理,
    010101,0101,3,共享单车乱停乱放、占用人行道,
    01010101,010101,4,共享单车停放秩序监管,区城市管理局

Validation (:func:`parse_taxonomy`) collects every problem instead of stopping at the first:
unique codes, levels 1-4, level 1 without a parent, every other node's parent present and exactly
one level up, a department on every responsibility item (and only there), no empty names, and
every problem form with at least one responsibility item (a ticket is always classified to one).
Pure: reading the file is the only I/O, in :func:`load_taxonomy`.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from hotline.tickets.datafile import UTF8, DataFileError, read_data_file
from hotline.tickets.errors import TaxonomyError, UnknownClassification

COLUMNS = ("code", "parent", "level", "name", "department")


class Level(enum.IntEnum):
    """The four levels."""

    DOMAIN = 1  # 行业领域
    PROBLEM_TYPE = 2  # 问题类型
    PROBLEM_FORM = 3  # 问题表现
    RESPONSIBILITY_ITEM = 4  # 权责事项

    @property
    def label(self) -> str:
        """The Chinese name of the level."""
        return ("行业领域", "问题类型", "问题表现", "权责事项")[self.value - 1]


@dataclass(frozen=True, slots=True)
class Node:
    """One classification node."""

    code: str
    parent: str | None
    level: Level
    name: str
    department: str | None


class Taxonomy:
    """A validated classification tree."""

    def __init__(self, nodes: Mapping[str, Node], source: str = "<memory>") -> None:
        self.source = source
        self._nodes = dict(nodes)
        self._children: dict[str | None, list[str]] = {}
        for node in self._nodes.values():
            self._children.setdefault(node.parent, []).append(node.code)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, code: object) -> bool:
        return code in self._nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def node(self, code: str) -> Node:
        """The node with ``code``; raises :class:`UnknownClassification`."""
        try:
            return self._nodes[code]
        except KeyError:
            raise UnknownClassification(code, "no such code in the taxonomy") from None

    def item(self, code: str) -> Node:
        """The responsibility item (level 4) a ticket is classified to."""
        node = self.node(code)
        if node.level is not Level.RESPONSIBILITY_ITEM:
            raise UnknownClassification(
                code,
                f"is a {node.level.label} (level {node.level.value}); a ticket needs a 权责事项 (level 4)",
            )
        return node

    def path(self, code: str) -> tuple[Node, ...]:
        """From the domain down to ``code``."""
        chain = []
        current: str | None = code
        while current is not None:
            node = self.node(current)
            chain.append(node)
            current = node.parent
        return tuple(reversed(chain))

    def ancestor(self, code: str, level: Level) -> Node:
        """The node of ``level`` on the path to ``code`` (``code``'s own node at its level)."""
        for node in self.path(code):
            if node.level is level:
                return node
        raise UnknownClassification(code, f"has no ancestor at level {level.value}")

    def label(self, code: str) -> str:
        """``城市管理 / 共享单车管理 / ... / 共享单车停放秩序监管``."""
        return " / ".join(node.name for node in self.path(code))

    def children(self, code: str | None) -> list[Node]:
        """The direct children of ``code`` (``None``: the domains)."""
        return [self._nodes[c] for c in self._children.get(code, [])]

    def counts(self) -> dict[Level, int]:
        """Nodes per level."""
        counts = dict.fromkeys(Level, 0)
        for node in self._nodes.values():
            counts[node.level] += 1
        return counts

    def departments(self) -> list[str]:
        """Every department named by a responsibility item, sorted."""
        return sorted({n.department for n in self._nodes.values() if n.department})


def parse_taxonomy(text: str, source: str = "<memory>") -> tuple[Taxonomy, list[str]]:
    """Parse CSV text; returns the taxonomy and the list of problems (empty when valid)."""
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text))
    rows = [row for row in reader if row and not row[0].lstrip().startswith("#")]
    if not rows:
        return Taxonomy({}, source), ["empty file"]
    header = [h.strip() for h in rows[0]]
    if tuple(header) != COLUMNS:
        return Taxonomy({}, source), [f"header must be {','.join(COLUMNS)}, got {','.join(header)}"]
    nodes: dict[str, Node] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        where = f"row {line_no}"
        if len(row) != len(COLUMNS):
            problems.append(f"{where}: expected {len(COLUMNS)} columns, got {len(row)}")
            continue
        code, parent, level_text, name, department = (cell.strip() for cell in row)
        if not code:
            problems.append(f"{where}: empty code")
            continue
        where = f"{where} ({code})"
        if code in nodes:
            problems.append(f"{where}: duplicate code")
            continue
        try:
            level = Level(int(level_text))
        except ValueError:
            problems.append(f"{where}: level must be 1-4, got {level_text!r}")
            continue
        if not name:
            problems.append(f"{where}: empty name")
        if level is Level.RESPONSIBILITY_ITEM and not department:
            problems.append(f"{where}: a responsibility item must name its department")
        if level is not Level.RESPONSIBILITY_ITEM and department:
            problems.append(f"{where}: only responsibility items (level 4) name a department")
        nodes[code] = Node(code, parent or None, level, name, department or None)
    has_child: set[str] = set()
    for node in nodes.values():
        where = f"{node.code}"
        if node.level is Level.DOMAIN:
            if node.parent is not None:
                problems.append(f"{where}: a domain (level 1) has no parent, got {node.parent}")
            continue
        if node.parent is None:
            problems.append(f"{where}: level {node.level.value} needs a parent")
            continue
        parent_node = nodes.get(node.parent)
        if parent_node is None:
            problems.append(f"{where}: parent {node.parent} does not exist")
            continue
        if parent_node.level.value != node.level.value - 1:
            problems.append(
                f"{where}: parent {parent_node.code} is level {parent_node.level.value}, "
                f"expected {node.level.value - 1}"
            )
            continue
        has_child.add(parent_node.code)
    for node in nodes.values():
        if node.level is not Level.RESPONSIBILITY_ITEM and node.code not in has_child:
            problems.append(f"{node.code}: {node.level.label} {node.name!r} has no children")
    return Taxonomy(nodes, source), problems


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and validate a taxonomy file; raises :class:`TaxonomyError` listing every problem."""
    try:
        text, encoding = read_data_file(path)
    except DataFileError as exc:
        raise TaxonomyError(
            str(path), [exc.problem if exc.line is None else f"line {exc.line}: {exc.problem}"]
        ) from exc
    if encoding != UTF8:  # what Excel saves on a Chinese Windows: worth a line
        structlog.get_logger("hotline.tickets").info("data_file.decoded", file=str(path), encoding=encoding)
    taxonomy, problems = parse_taxonomy(text, str(path))
    if problems:
        raise TaxonomyError(str(path), problems)
    return taxonomy
