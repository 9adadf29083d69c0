"""What a transaction wrote: the (table, operation) pairs of its ORM flushes and its INSERT,
UPDATE and DELETE statements, kept on the session until it commits.

The unit of work hands the set to its `on_written` hook after the commit (bootstrap moves the
public data version with it, so cached pages are rebuilt). A statement whose target cannot be
told (text SQL that is not a SELECT) is recorded as (ANY_TABLE, "write"): whoever reads the set
must then assume anything changed."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

WRITTEN = "fc_written"
ANY_TABLE = "*"

Written = frozenset[tuple[str, str]]


def _record(session: Session, table: str, operation: str) -> None:
    session.info.setdefault(WRITTEN, set()).add((table, operation))


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    for operation, objects in (("insert", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            table = getattr(sa.inspect(obj).mapper.local_table, "name", ANY_TABLE)
            _record(session, table, operation)


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    statement = state.statement
    table = getattr(getattr(statement, "table", None), "name", None)
    if state.is_insert or state.is_update or state.is_delete:
        operation = "insert" if state.is_insert else "update" if state.is_update else "delete"
        _record(state.session, table or ANY_TABLE, operation)
        return
    text = str(statement).lstrip().upper() if isinstance(statement, sa.TextClause) else ""
    if text and not text.startswith("SELECT"):
        _record(state.session, ANY_TABLE, "write")


def take_written(session: Session) -> Written:
    """The pairs recorded since the last take, forgotten here (after a commit or a rollback)."""
    return frozenset(session.info.pop(WRITTEN, None) or ())
