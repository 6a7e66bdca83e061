"""The display-screen WebSocket: ``/ws/v1/tasks/?ticket=...&after_seq=N``.

Delivery guarantee (every committed event, exactly once, in seq order):

1. join the organization's group ``events.<schema>`` *first*, then
2. replay from the database every committed event with ``seq > after_seq``, then
3. stream live events, dropping any with ``seq <=`` the cursor (already sent or filtered).

Events commit in seq order and seqs have no holes (events/services.py: the counter row stays locked
until commit, a rollback gives the number back). So when a live event arrives with a seq beyond
cursor + 1, the missing ones are already committed but their publication is still in flight
(another process): they are read from the database at once, never waited for. A publication
that is lost altogether is caught up at the next periodic re-check.

The cursor advances over events the station does not show too, so ``after_seq`` can be any
seq the client has seen. Channels handles one message of a consumer at a time; the lock only
orders the background re-check against that.
"""

import asyncio
import contextlib
import json
import logging
import random
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import translation
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from core.exceptions import ApplicationError
from core.locale import accept_language, organization_language
from core.sockets import screen_group_name, user_group_name
from events.retention import event_pruned_through
from events.services import events_group_name

from . import realtime
from .constants import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    REPLAY_BATCH,
    REPLAY_LIMIT,
    PrincipalKind,
)
from .middleware import hostname_of, scope_header
from .selectors import event_count_after, event_last_seq, event_list_after, event_matches_station

logger = logging.getLogger(__name__)

_ACTIONS = ("bump", "item_done", "recall")


def _positive_int(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > 2**63 - 1:
        return None
    return value


class TaskEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.session = None
        self.cursor = 0
        self.pending: dict[int, dict] = {}
        self.group = None
        self.session_group = None
        self.background: list[asyncio.Task] = []
        self.lock = asyncio.Lock()
        # DESIGN 13 on the socket too: the handshake's Accept-Language, else the organization's
        # language. Activated for this consumer's task (and the tasks it starts) only.
        translation.activate(
            accept_language(scope_header(self.scope, b"accept-language"))
            or (organization_language(self.scope["tenant"]) if self.scope.get("tenant") else None)
            or settings.LANGUAGE_CODE
        )
        await self.accept()

        error = self.scope.get("tenant_error")
        if error:
            close_code, code, message = error
            await self.refuse(close_code, code, message)
            return
        self.tenant = self.scope["tenant"]
        origin = scope_header(self.scope, b"origin")
        if origin and hostname_of(origin.split("://", 1)[-1]) != self.tenant.domain_url:
            await self.refuse(
                CLOSE_FORBIDDEN, "ORIGIN_MISMATCH", _("The page origin does not match this host.")
            )
            return

        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        ticket = params.get("ticket", [""])[0]
        after_seq = None
        if params.get("after_seq", [""])[0] != "":
            raw = params["after_seq"][0]
            after_seq = int(raw) if raw.isdigit() and len(raw) < 19 else -1
            if after_seq < 0:
                await self.refuse(
                    CLOSE_BAD_REQUEST, "INVALID_AFTER_SEQ", _("after_seq must be an integer >= 0.")
                )
                return
        try:
            self.session = await self.db(realtime.session_open, ticket=ticket)
        except realtime.SessionRefused as refused:
            await self.refuse(CLOSE_UNAUTHORIZED, refused.code, refused.message)
            return
        self.station = set(self.session.station)
        # Who is on the socket has a group of its own: a service closes it at once when the
        # session ends, the membership goes or the screen's token is rotated (core.sockets).
        # (A close sent between the ticket's check and this join is caught by the re-check.)
        is_screen = self.session.kind == PrincipalKind.SCREEN
        name_of = screen_group_name if is_screen else user_group_name
        self.session_group = name_of(self.tenant.schema_name, self.session.principal_id)
        await self.channel_layer.group_add(self.session_group, self.channel_name)

        # Join first, read second: an event committed after the read is published after it.
        self.group = events_group_name(self.tenant.schema_name)
        await self.channel_layer.group_add(self.group, self.channel_name)
        async with self.lock:
            await self.send_json(
                {
                    "type": "hello",
                    "principal": {
                        "kind": self.session.kind,
                        "name": self.session.name,
                        "station": sorted(self.station),
                        "mode": self.session.mode,
                    },
                    "heartbeat_seconds": settings.WS_HEARTBEAT_SECONDS,
                }
            )
            await self.catch_up(after_seq)
        self.background = [
            asyncio.create_task(self.heartbeat_loop()),
            asyncio.create_task(self.recheck_loop()),
        ]

    async def disconnect(self, code):
        for task in getattr(self, "background", ()):
            task.cancel()
        for group in (getattr(self, "group", None), getattr(self, "session_group", None)):
            if group:
                await self.channel_layer.group_discard(group, self.channel_name)

    # --- plumbing -------------------------------------------------------------------------

    async def db(self, fn, **kwargs):
        return await database_sync_to_async(self._in_tenant)(fn, kwargs)

    def _in_tenant(self, fn, kwargs):
        with tenant_context(self.tenant):
            return fn(**kwargs)

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)

    async def refuse(self, close_code: int, code: str, message) -> None:
        await self.send_json({"type": "error", "code": code, "message": str(message)})
        await self.close(code=close_code)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            content = json.loads(text_data or bytes_data or b"")
        except (TypeError, ValueError, RecursionError):  # deep nesting is malformed, not a crash
            await self.send_error("MALFORMED_MESSAGE", _("Messages must be JSON objects."))
            return
        if not isinstance(content, dict):
            await self.send_error("MALFORMED_MESSAGE", _("Messages must be JSON objects."))
            return
        await self.receive_json(content)

    async def send_error(self, code: str, message, ref=None, details=None) -> None:
        body = {"type": "error", "code": code, "message": str(message)}
        if ref is not None:
            body["ref"] = ref
        if details:
            body["details"] = details
        await self.send_json(body)

    # --- delivery -------------------------------------------------------------------------

    async def catch_up(self, after_seq: int | None) -> None:
        if after_seq is None:
            await self.send_snapshot()
            return
        last = await self.db(event_last_seq)
        if after_seq > last:
            # The client is ahead of the log (another server's numbering, a restored database).
            await self.send_json({"type": "resync", "reason": "ahead_of_server"})
            await self.send_snapshot(resync=True)
            return
        if after_seq < await self.db(event_pruned_through):
            # Events after after_seq were deleted by retention (events.retention): a replay
            # would have a hole. The log is pruned as a prefix, so the oldest kept seq says it.
            await self.send_json({"type": "resync", "reason": "events_pruned"})
            await self.send_snapshot(resync=True)
            return
        behind = await self.db(event_count_after, after_seq=after_seq, cap=REPLAY_LIMIT)
        if behind > REPLAY_LIMIT:
            await self.send_json({"type": "resync", "reason": "too_far_behind"})
            await self.send_snapshot(resync=True)
            return
        self.cursor = after_seq
        await self.replay()

    async def send_snapshot(self, resync: bool = False) -> None:
        snapshot = await self.db(realtime.snapshot_build, station=sorted(self.station))
        if resync:
            # In place of the replay the client asked for (after a ``resync`` message).
            snapshot["resync"] = True
        self.cursor = max(self.cursor, snapshot["seq"])
        self.pending = {seq: ev for seq, ev in self.pending.items() if seq > self.cursor}
        await self.send_json(snapshot)
        await self.drain_pending()

    async def replay(self, upto_seq: int | None = None) -> None:
        while True:
            batch = await self.db(
                event_list_after, after_seq=self.cursor, upto_seq=upto_seq, limit=REPLAY_BATCH
            )
            for event in batch:
                await self.deliver(event)
            if len(batch) < REPLAY_BATCH:
                break
        await self.drain_pending()

    async def deliver(self, event: dict) -> None:
        seq = event["seq"]
        if seq <= self.cursor:
            return
        # The cursor moves before the await: nothing can send this seq twice.
        self.cursor = seq
        self.pending.pop(seq, None)
        if event_matches_station(category_ids=event.get("category_ids", ()), station=self.station):
            await self.send_json(event)

    async def drain_pending(self) -> None:
        while self.cursor + 1 in self.pending:
            await self.deliver(self.pending.pop(self.cursor + 1))
        for seq in [seq for seq in self.pending if seq <= self.cursor]:
            del self.pending[seq]

    async def event_message(self, message):
        """A live event from the channel layer (events.services.events_publish)."""
        if self.session is None:
            return
        event = message["event"]
        async with self.lock:
            seq = event["seq"]
            if seq <= self.cursor:
                return
            if seq == self.cursor + 1:
                await self.deliver(event)
                await self.drain_pending()
                return
            # A hole: the missing events are committed; their publication is late. Read them.
            self.pending[seq] = event
            await self.replay(upto_seq=max(self.pending))
            if self.pending:
                # Not in the database (cannot happen with a hole-free log): keep the order.
                for pending_seq in sorted(self.pending):
                    await self.deliver(self.pending[pending_seq])
                self.pending.clear()

    # --- background loops -----------------------------------------------------------------

    async def heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.WS_HEARTBEAT_SECONDS)
            await self.send_json({"type": "ping"})

    async def recheck_loop(self) -> None:
        # Jitter: screens that connected together (a server restart) do not re-check together.
        await asyncio.sleep(settings.WS_RECHECK_SECONDS * random.uniform(0.5, 1.0))
        while True:
            try:
                refused = await self.db(realtime.session_check, session=self.session)
            except Exception:
                logger.exception("websocket re-check failed")
                await asyncio.sleep(settings.WS_RECHECK_SECONDS)
                continue
            if refused is not None:
                await self.end_session(refused.code, refused.message)
                return
            # Catch up anything whose publication was lost (Redis blip). The lock is only taken
            # when there is something to catch up: live delivery never waits on this query.
            last = await self.db(event_last_seq)
            if last > self.cursor:
                async with self.lock:
                    await self.replay()
            await asyncio.sleep(settings.WS_RECHECK_SECONDS)

    async def session_close(self, message):
        """A service ended who is on this socket (core.sockets): say why, then close."""
        if self.session is None:
            return
        await self.end_session(message["code"], message["message"])

    async def end_session(self, code: str, message) -> None:
        self.session = None
        for task in self.background:
            if task is not asyncio.current_task():
                task.cancel()
        for group in (self.group, self.session_group):
            if group:
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(group, self.channel_name)
        self.group = self.session_group = None
        await self.refuse(CLOSE_FORBIDDEN, code, message)

    # --- client messages ------------------------------------------------------------------

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        ref = content.get("ref")
        if self.session is None:
            return
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "resync":
            async with self.lock:
                await self.send_snapshot()
        elif kind in _ACTIONS:
            await self.run_action(kind, content, ref)
        else:
            await self.send_error("UNKNOWN_MESSAGE", _("Unknown message type."), ref)

    async def run_action(self, kind: str, content: dict, ref) -> None:
        payload = {"task_id": _positive_int(content.get("task_id"))}
        fields = {}
        if payload["task_id"] is None:
            fields["task_id"] = [_("A positive integer is required.")]
        if kind == "item_done":
            payload["item_id"] = _positive_int(content.get("item_id"))
            payload["done"] = content.get("done", True)
            if payload["item_id"] is None:
                fields["item_id"] = [_("A positive integer is required.")]
            if not isinstance(payload["done"], bool):
                fields["done"] = [_("Must be true or false.")]
        if fields:
            await self.send_error(
                "VALIDATION_ERROR", _("Some fields are invalid."), ref, {"fields": fields}
            )
            return
        try:
            task = await self.db(
                realtime.action_run, session=self.session, action=kind, payload=payload
            )
        except ApplicationError as exc:
            await self.send_error(exc.code, exc.message, ref, exc.details)
            return
        except ObjectDoesNotExist:
            await self.send_error("NOT_FOUND", _("Not found."), ref)
            return
        except Exception:
            logger.exception("websocket action failed", extra={"action": kind})
            await self.send_error("INTERNAL_ERROR", _("An unexpected error occurred."), ref)
            return
        await self.send_json({"type": "ack", "action": kind, "ref": ref, "task": task})
