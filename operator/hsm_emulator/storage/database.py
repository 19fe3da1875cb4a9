"""The one SQLite database of the emulator (`DIR/emulator.db`) and its transactions.

Why this shape:
- WAL + `synchronous=FULL`: a committed transaction is fsynced, so a 2xx sent after `transaction()` exits survives
  SIGKILL and power loss.
- One connection guarded by a re-entrant lock: requests run on the event loop and long-running operations run in
  worker threads; the lock serialises them so no two transactions interleave on the connection. Transactions are
  short and never await, so holding the lock from the event loop is cheap.
- `BEGIN IMMEDIATE` takes the write lock up front: a transaction never fails half way with SQLITE_BUSY.
- A transaction nested in another one (same thread) joins it: helpers can open their own without knowing whether
  the caller already did; the outermost block commits or rolls back everything.
- A full disk (SQLITE_FULL, at COMMIT or when a statement spills pages) rolls the transaction back and raises
  `StorageFull`, which the error handlers answer with 503: nothing half-written, and the server keeps serving reads
  and accepts writes again once space returns.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hsm_emulator.storage.schema import Migration, apply_migrations, schema_versions

DATABASE_FILE = "emulator.db"


class StorageFull(RuntimeError):
    """The disk holding the database is full: the transaction was rolled back and nothing of it was written."""


SqlParameters = Sequence[Any] | dict[str, Any]


class Transaction:
    """A view of the connection valid only inside `Database.transaction()` / `Database.read()`."""

    def __init__(self, connection: sqlite3.Connection, *, writable: bool) -> None:
        self._connection = connection
        self.writable = writable

    def execute(self, sql: str, parameters: SqlParameters = ()) -> sqlite3.Cursor:
        return self._connection.execute(sql, parameters)

    def executemany(self, sql: str, rows: Iterable[SqlParameters]) -> sqlite3.Cursor:
        return self._connection.executemany(sql, rows)

    def one(self, sql: str, parameters: SqlParameters = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        row: sqlite3.Row | None = self._connection.execute(sql, parameters).fetchone()
        return row

    def all(self, sql: str, parameters: SqlParameters = ()) -> list[sqlite3.Row]:
        return list(self._connection.execute(sql, parameters).fetchall())


class Database:
    """Owns `emulator.db`; open with `Database.open(data_dir)`, close with `close()`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self._lock = threading.RLock()
        self._current: Transaction | None = None
        self.path = path

    @classmethod
    def open(cls, data_dir: Path) -> Database:
        path = data_dir / DATABASE_FILE
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so nothing commits behind our back.
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            connection.close()
            raise RuntimeError(f"{path}: SQLite refused WAL mode (got {mode})")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=5000")
        return cls(connection, path)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def migrate(self, migrations: Iterable[Migration]) -> list[Migration]:
        """Apply the missing migrations of every domain in one transaction; returns those applied."""
        with self.transaction() as tx:
            return apply_migrations(tx._connection, migrations)

    def schema_versions(self) -> dict[str, int]:
        with self.read() as tx:
            return schema_versions(tx._connection)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction: committed (and fsynced) when the block exits normally, rolled back on any error."""
        with self._lock:
            if self._current is not None:
                if not self._current.writable:
                    raise RuntimeError("cannot open a write transaction inside a read transaction")
                yield self._current
                return
            self._connection.execute("BEGIN IMMEDIATE")
            self._current = Transaction(self._connection, writable=True)
            try:
                yield self._current
            except BaseException as error:
                self._roll_back()
                if _is_disk_full(error):
                    raise StorageFull(f"{self.path}: {error}") from error
                raise
            else:
                try:
                    self._connection.execute("COMMIT")
                except sqlite3.Error as error:
                    self._roll_back()
                    if _is_disk_full(error):
                        raise StorageFull(f"{self.path}: {error}") from error
                    raise
            finally:
                self._current = None

    def _roll_back(self) -> None:
        # After SQLITE_FULL/IOERR SQLite may already have rolled back on its own (lang_transaction.html); a ROLLBACK
        # then would fail, so only roll back a transaction that is still open.
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """A consistent read snapshot (joins an open transaction of the same thread)."""
        with self._lock:
            if self._current is not None:
                yield self._current
                return
            self._connection.execute("BEGIN DEFERRED")
            self._current = Transaction(self._connection, writable=False)
            try:
                yield self._current
            finally:
                self._current = None
                self._connection.execute("COMMIT")


def _is_disk_full(error: BaseException) -> bool:
    return isinstance(error, sqlite3.Error) and error.sqlite_errorcode == sqlite3.SQLITE_FULL
