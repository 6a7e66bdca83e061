"""Close a WSGI response in the thread that produced it.

uvicorn's own WSGI adapter (``uvicorn.middleware.wsgi``, used when ``a2wsgi`` is not installed)
iterates the response but never calls its ``close()``: PEP 3333 requires that call, and Django
fires ``request_finished`` from it. Without it nothing runs at the end of a request: above all
``close_old_connections`` does not apply ``CONN_MAX_AGE``, so with ``DATABASE_CONN_MAX_AGE=0``
a thread keeps its database session until its *next* request. Behind PgBouncer in session mode
that is a deadlock: idle threads hold every server session while the busy ones wait for one
(core/tests/test_pgbouncer_session.py found it).
"""

from collections.abc import Callable, Iterable, Iterator


def closing(app: Callable) -> Callable:
    """``app`` whose response is closed right after its last chunk, in the same thread."""

    def application(environ, start_response) -> Iterator[bytes]:
        response: Iterable[bytes] = app(environ, start_response)
        try:
            yield from response
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()

    return application
