"""Sending a Celery job from a request: fail fast when the broker is down.

Celery's defaults suit a worker, not a request thread: ``apply_async`` first subscribes to the
job's result on the Redis result backend, whose reconnect policy retries 20 times a second apart
(19 s measured with the broker down), then publishes with its own retries. A request that only
records a job (the client polls a row, never the Celery result) needs neither: ``job_send``
sends without a result subscription, with one quick retry, and turns a broker that cannot be
reached into ``JobQueueUnavailable`` (503 ``JOB_QUEUE_UNAVAILABLE``). The caller undoes what it
wrote for that job (docs/reports.md, "Broker unreachable"), so nothing is left waiting for a
message that was never sent.
"""

from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as KombuOperationalError

from .exceptions import ApplicationError

# One retry, 0.2 s apart: a broker that restarts in that time is caught, one that is down
# answers the request in well under a second (connects are bounded by the broker's
# socket_connect_timeout, CELERY_BROKER_TRANSPORT_OPTIONS).
REQUEST_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}


class JobQueueUnavailable(ApplicationError):
    status_code = 503
    code = "JOB_QUEUE_UNAVAILABLE"
    default_message = _(
        "The job queue cannot be reached right now; nothing was queued. Try again in a minute."
    )


def job_send(task, *, args=None, kwargs=None, **options) -> None:
    """``task.apply_async`` for request paths: no result subscription, quick failure."""
    try:
        task.apply_async(
            args=args,
            kwargs=kwargs,
            ignore_result=True,
            retry=True,
            retry_policy=REQUEST_RETRY_POLICY,
            **options,
        )
    except (KombuOperationalError, ConnectionError, OSError, TimeoutError) as exc:
        raise JobQueueUnavailable() from exc


def job_send_on_commit(task, *, args=None, what: str) -> None:
    """Send ``task`` once the current transaction commits, failing fast (``job_send``).

    For jobs whose row stays useful without them (an email: the invitation can be resent, the
    reset asked again): the request has already answered by then, so a broker that cannot be
    reached is logged with ``what`` was not sent, in a few hundred milliseconds, never a 19 s
    wait or a 500 after the commit.
    """
    import logging

    from django.db import transaction

    def send() -> None:
        try:
            job_send(task, args=args)
        except JobQueueUnavailable:
            logging.getLogger(__name__).error(
                "job queue unreachable: %s was not sent", what, exc_info=True
            )

    transaction.on_commit(send)
