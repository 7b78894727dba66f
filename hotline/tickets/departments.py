"""The department registry (承办单位): the departments tickets may be dispatched to, kept as data
in ``config/departments.csv`` (``tickets.departments_file``).  Pure.

Every responsibility item of the taxonomy names the department that owns the matter; that name
must be in the registry (``hotline taxonomy check`` says which are not), and a dispatch to a
department outside the registry is refused.

File format (CSV, UTF-8 or GB18030/GBK; lines starting with ``#`` are comments)::

    name,contact
    区城市管理局,024-12345678
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from hotline.tickets.datafile import UTF8, read_data_file
from hotline.tickets.errors import TicketError
from hotline.tickets.taxonomy import Level, Taxonomy

COLUMNS = ("name", "contact")


class DepartmentRegistryError(TicketError):
    """The registry file is missing or malformed (every problem listed)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        shown = "; ".join(problems[:5]) + (f"; ... ({len(problems)} problems)" if len(problems) > 5 else "")
        super().__init__(f"department registry {source}: {shown}")
        self.source = source
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Department:
    """One department tickets can be dispatched to."""

    name: str
    contact: str = ""


class DepartmentRegistry:
    """The registered departments by name."""

    def __init__(self, departments: Iterable[Department], source: str = "<memory>") -> None:
        self._by_name = {d.name: d for d in departments}
        self.source = source

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Department]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def problems_with(self, taxonomy: Taxonomy) -> list[str]:
        """Responsibility items naming a department that is not registered."""
        return [
            f"{node.code}: department {node.department!r} is not in the registry {self.source}"
            for node in taxonomy
            if node.level is Level.RESPONSIBILITY_ITEM and node.department and node.department not in self
        ]

    def unused(self, taxonomy: Taxonomy) -> list[str]:
        """Registered departments no responsibility item names (dispatch-only: fine, but listed)."""
        named = set(taxonomy.departments())
        return sorted(name for name in self._by_name if name not in named)


def parse_departments(text: str, source: str = "<memory>") -> tuple[DepartmentRegistry, list[str]]:
    """Parse the registry's CSV text: the registry and its problems (empty when valid)."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].lstrip().startswith("#")]
    if not rows:
        return DepartmentRegistry((), source), ["empty file"]
    header = tuple(h.strip() for h in rows[0])
    if header != COLUMNS:
        return DepartmentRegistry((), source), [f"header must be {','.join(COLUMNS)}, got {','.join(header)}"]
    problems: list[str] = []
    departments: dict[str, Department] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            problems.append(f"row {line_no}: expected {len(COLUMNS)} columns, got {len(row)}")
            continue
        name, contact = (cell.strip() for cell in row)
        if not name:
            problems.append(f"row {line_no}: empty name")
        elif name in departments:
            problems.append(f"row {line_no}: duplicate department {name!r}")
        else:
            departments[name] = Department(name, contact)
    return DepartmentRegistry(departments.values(), source), problems


def load_departments(path: Path) -> DepartmentRegistry:
    """Read and validate the registry; raises :class:`DepartmentRegistryError` or
    :class:`~hotline.tickets.datafile.DataFileError`."""
    text, encoding = read_data_file(path)
    if encoding != UTF8:
        structlog.get_logger("hotline.tickets").info("data_file.decoded", file=str(path), encoding=encoding)
    registry, problems = parse_departments(text, str(path))
    if problems:
        raise DepartmentRegistryError(str(path), problems)
    return registry
