"""Dependencies point one way: the store implements the ticket domain's repository interface
(:mod:`hotline.tickets.repository`); the domain never imports the store."""

from __future__ import annotations

import ast
from pathlib import Path

import hotline.tickets

TICKETS = Path(hotline.tickets.__file__).parent
#: The one edge allowed to know the store: the command line wires a Store into the service.
EDGES = {"cli.py"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_ticket_domain_does_not_import_the_store() -> None:
    offenders = {
        path.name: sorted(m for m in _imports(path) if m == "hotline.store" or m.startswith("hotline.store."))
        for path in TICKETS.glob("*.py")
        if path.name not in EDGES
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}
    assert "service.py" in offenders and "watcher.py" in offenders  # the files looked at


def test_the_store_implements_the_domains_errors() -> None:
    from hotline.store.errors import StoreConflict, StoreError, StoreIntegrityError
    from hotline.tickets.repository import RepositoryConflict, RepositoryConstraint, RepositoryError

    assert issubclass(StoreError, RepositoryError)
    assert issubclass(StoreConflict, RepositoryConflict) and issubclass(
        StoreIntegrityError, RepositoryConstraint
    )
    conflict = StoreConflict("tickets", (1,))
    assert isinstance(conflict, RepositoryConflict) and conflict.table == "tickets"
