"""Refuse a PostgreSQL reached through a transaction-pooling proxy (PgBouncer ``pool_mode =
transaction`` or ``statement``).

Command Center keeps state in the database session: the tenant's ``search_path`` (set once
per connection and remembered, core.db_backend.base), prepared statements, the advisory locks
that prove an ``Idempotency-Key``'s owner is alive. Behind transaction pooling each transaction
may run on another server session: measured behind a real PgBouncer, about half of one
organization's task-list reads returned another organization's rows. Session pooling (or no
pooler) is the only supported mode for now (docs/foundation.md).

The probe uses two client connections, A and B:

1. A runs ``SELECT pg_backend_pid()`` and ends its transaction;
2. B opens a transaction and asks for its pid: the pid A just had means one server session
   served two client connections (a pooler handing out A's session between A's transactions;
   PgBouncer's default LIFO reuse does exactly that);
3. while B's transaction holds its session, A asks again: another pid means A's client
   connection moved to another server session (round-robin reuse).

Directly connected or session-pooled, A keeps one pid and B has its own. A statement-pooling
proxy refuses B's transaction block: refused too. One client connection alone cannot tell: an
idle pooler gives it the same server session every time.
"""

import psycopg
from django.core.exceptions import ImproperlyConfigured

REFUSAL = (
    "PostgreSQL is reached through a transaction-pooling proxy (PgBouncer pool_mode = "
    "transaction or statement): {evidence}. Command Center keeps per-session state (the "
    "tenant's search_path, prepared statements, advisory locks) and would serve one "
    "organization's rows to another. Use pool_mode = session in pgbouncer.ini (or point "
    "DATABASE_URL at PostgreSQL itself) and restart."
)

# Verdicts per (host, port, dbname, user) for this process: the first connection probes.
_verdicts: dict[tuple, str | None] = {}


def _pid(conn) -> int:
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    if not conn.autocommit:
        conn.commit()  # end the transaction: a transaction pooler may move us now
    return pid


def transaction_pooling_evidence(conn_params: dict) -> str | None:
    """What shows that ``conn_params`` lead to a transaction-pooling proxy; ``None`` if nothing
    does (direct or session pooling). Opens and closes two short connections."""
    params = {**conn_params, "autocommit": True}
    with psycopg.connect(**params) as a, psycopg.connect(**params) as b:
        first = _pid(a)
        try:
            b.execute("BEGIN")
            other = _pid(b)
        except psycopg.Error as exc:
            return f"a transaction block was refused ({exc.__class__.__name__})"
        try:
            if other == first:
                return "two client connections were served by one server session"
            again = _pid(a)
            if again != first:
                return "one client connection moved to another server session"
        finally:
            b.execute("ROLLBACK")
    return None


def refuse_transaction_pooling(conn_params: dict, *, cached: bool = True) -> None:
    """Raise ``ImproperlyConfigured`` (with what to change) behind a transaction pooler."""
    key = tuple(conn_params.get(k) for k in ("host", "port", "dbname", "user"))
    if cached and key in _verdicts:
        evidence = _verdicts[key]
    else:
        evidence = transaction_pooling_evidence(conn_params)
        _verdicts[key] = evidence
    if evidence:
        raise ImproperlyConfigured(REFUSAL.format(evidence=evidence))
