"""The task API: thin views over tasks.services and tasks.selectors."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core import policy
from core.api import TenantViewSet
from core.exceptions import ApplicationError
from core.permissions import principal_role
from core.schema import ErrorSerializer
from events.services import event_to_message

from . import schema_examples
from .batch import task_create_batch, task_create_batch_idempotent
from .choices import TASK_ORDERING, TaskStatus
from .constants import EVENTS_PAGE_DEFAULT, EVENTS_PAGE_MAX, IDEMPOTENCY_KEY_MAX_LENGTH
from .errors import field_error
from .filters import TaskFilter
from .idempotency import idempotent_call, request_fingerprint
from .selectors import task_event_list, task_get, task_list, task_note_list
from .serializers import (
    StrictInputSerializer,
    TaskBatchAnswerSerializer,
    TaskBatchInputSerializer,
    TaskCancelInputSerializer,
    TaskCreateInputSerializer,
    TaskEventPageSerializer,
    TaskItemDoneInputSerializer,
    TaskNoteInputSerializer,
    TaskNoteSerializer,
    TaskSerializer,
    TaskUpdateInputSerializer,
    task_create_input_fast,
)
from .services import (
    task_create,
    task_item_set_done,
    task_note_create,
    task_recall,
    task_serialize,
    task_set_pinned,
    task_transition,
    task_update,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Replays the first answer for the same key and body (24 hours).",
)


class EmptyInputSerializer(StrictInputSerializer):
    """Action endpoints take no body: anything sent is an unknown field."""


class EventQuerySerializer(serializers.Serializer):
    # A seq is a bigint: a larger one is a 400, not a numeric comparison echoed back.
    after_seq = serializers.IntegerField(
        min_value=0, max_value=2**63 - 1, required=False, default=0
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=EVENTS_PAGE_MAX, required=False, default=EVENTS_PAGE_DEFAULT
    )


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
        raise field_error(
            "Idempotency-Key",
            _("Use 1 to %(n)d printable characters.") % {"n": IDEMPOTENCY_KEY_MAX_LENGTH},
        )
    return key


class TaskViewSet(mixins.ListModelMixin, TenantViewSet):
    """Tasks (orders): create, list, detail, status actions, item completion, event log."""

    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    ordering_fields = [
        "created_at",
        "number",
        "total",
        "status",
        "business_date",
        "pinned",
        "priority",
    ]
    ordering = TASK_ORDERING

    def get_queryset(self):
        return task_list()

    def _empty_body(self, request) -> None:
        EmptyInputSerializer(data=request.data or {}).is_valid(raise_exception=True)

    @extend_schema(
        summary="Create a task (order); optional Idempotency-Key.",
        request=TaskCreateInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses=schema_examples.CREATE_RESPONSES,
        examples=[schema_examples.CREATE_REQUEST],
    )
    def create(self, request):
        validated = task_create_input_fast(request.data)
        if validated is None:
            serializer = TaskCreateInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            validated = serializer.validated_data
        key = _idempotency_key(request)

        def work():
            task = task_create(user=request.user, **validated)
            return 201, task_serialize(task), task

        if key is None:
            status, body, _task = work()
            return Response(body, status=status)
        answer = idempotent_call(
            user=request.user, key=key, fingerprint=request_fingerprint(request.data), work=work
        )
        response = Response(answer.body, status=answer.status)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(summary="A task with its items.", responses={200: TaskSerializer})
    def retrieve(self, request, pk=None):
        return Response(TaskSerializer(task_get(task_id=int(pk))).data)

    @extend_schema(
        summary="Edit a pending or accepted task: workspace, customer, notes, priority; items "
        "(managers and owners).",
        description=(
            "Only the fields sent change. `items` is the whole new list of lines: `{id, "
            "quantity, notes?}` keeps or changes an existing line, `{agent_id, quantity, "
            "notes?}` adds one, a line left out is removed. The stock difference goes through "
            "the ledger and totals are recomputed. One `task.updated` event with `changes`."
        ),
        request=TaskUpdateInputSerializer,
        responses={
            200: TaskSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="VALIDATION_ERROR (discount above the new subtotal, "
                "unknown line), AGENT_NOT_FOUND",
            ),
            403: OpenApiResponse(ErrorSerializer, description="PERMISSION_DENIED (items by staff)"),
            409: OpenApiResponse(
                ErrorSerializer,
                description="TASK_LOCKED (in_progress or later), INSUFFICIENT_STOCK, "
                "AGENT_UNAVAILABLE",
            ),
        },
    )
    def partial_update(self, request, pk=None):
        data = TaskUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        items = fields.pop("items", None)
        if items is not None and not policy.permits_field(
            "task", "partial_update", "items", role=principal_role(request)
        ):
            raise ApplicationError(
                _("Only managers and owners can change the items of a task."),
                code="PERMISSION_DENIED",
                status=403,
            )
        task = task_update(task_id=int(pk), user=request.user, items=items, **fields)
        return Response(task_serialize(task))

    @extend_schema(
        summary="Recall (undo a bump): ready -> in_progress, completed -> ready, within the "
        "organization's recall_minutes.",
        request=None,
        responses={
            200: TaskSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="RECALL_WINDOW_PASSED, INVALID_TRANSITION"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def recall(self, request, pk=None):
        self._empty_body(request)
        task = task_recall(task_id=int(pk), user=request.user)
        return Response(task_serialize(task))

    @extend_schema(
        methods=["GET"],
        summary="The task's notes, oldest first (paginated).",
        request=None,
        responses={200: TaskNoteSerializer(many=True)},
        filters=False,
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a note (text; optional feedback score 1-5 once the task is completed).",
        request=TaskNoteInputSerializer,
        responses={
            201: TaskNoteSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="VALIDATION_ERROR (score before completion)"
            ),
        },
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None, ordering_fields=[])
    def notes(self, request, pk=None):
        if request.method == "GET":
            page = self.paginate_queryset(task_note_list(task_id=int(pk)))
            return self.get_paginated_response(TaskNoteSerializer(page, many=True).data)
        data = TaskNoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = task_note_create(task_id=int(pk), user=request.user, **data.validated_data)
        return Response(TaskNoteSerializer(note).data, status=201)

    @extend_schema(
        summary="Create up to 50 tasks, each on its own; optional Idempotency-Key for the batch.",
        description=(
            "Each task is validated and created in its own transaction: one refused task does "
            "not block the others. `results` lists each one in order: `{status: 201, task}` or "
            "`{status: 4xx, error: {code, message, details}}`. 200 when every task was created, "
            "207 when at least one was not. More than 50 tasks: 400."
        ),
        request=TaskBatchInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            200: TaskBatchAnswerSerializer,
            207: TaskBatchAnswerSerializer,
            409: OpenApiResponse(ErrorSerializer, description="IDEMPOTENCY_IN_PROGRESS"),
            422: OpenApiResponse(ErrorSerializer, description="IDEMPOTENCY_KEY_REUSED"),
        },
        filters=False,
    )
    @action(detail=False, methods=["post"], filterset_class=None, pagination_class=None)
    def batch(self, request):
        data = TaskBatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entries = data.validated_data["tasks"]
        key = _idempotency_key(request)
        if key is None:
            answer = task_create_batch(user=request.user, entries=entries)
        else:
            answer = task_create_batch_idempotent(
                user=request.user,
                key=key,
                fingerprint=request_fingerprint(request.data),
                entries=entries,
            )
        response = Response(answer.body, status=answer.status)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def _transition(self, request, pk, to_status: str, reason: str = "") -> Response:
        task = task_transition(
            task_id=int(pk), to_status=to_status, user=request.user, reason=reason
        )
        return Response(task_serialize(task))

    @extend_schema(summary="Accept a pending task.", request=None, responses={200: TaskSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        self._empty_body(request)
        return self._transition(request, pk, TaskStatus.ACCEPTED)

    @extend_schema(
        summary="Start an accepted task (in_progress).",
        request=None,
        responses={200: TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        self._empty_body(request)
        return self._transition(request, pk, TaskStatus.IN_PROGRESS)

    @extend_schema(
        summary="Mark a started task ready.", request=None, responses={200: TaskSerializer}
    )
    @action(detail=True, methods=["post"])
    def ready(self, request, pk=None):
        self._empty_body(request)
        return self._transition(request, pk, TaskStatus.READY)

    @extend_schema(summary="Complete a ready task.", request=None, responses={200: TaskSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        self._empty_body(request)
        return self._transition(request, pk, TaskStatus.COMPLETED)

    @extend_schema(
        summary="Cancel a task (manager or owner; reason required; stock is given back).",
        request=TaskCancelInputSerializer,
        responses={200: TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = TaskCancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._transition(request, pk, TaskStatus.CANCELLED, data.validated_data["reason"])

    @extend_schema(
        summary="Pin a task on top of the screens.", request=None, responses={200: TaskSerializer}
    )
    @action(detail=True, methods=["post"])
    def pin(self, request, pk=None):
        self._empty_body(request)
        task = task_set_pinned(task_id=int(pk), pinned=True, user=request.user)
        return Response(task_serialize(task))

    @extend_schema(summary="Unpin a task.", request=None, responses={200: TaskSerializer})
    @action(detail=True, methods=["post"])
    def unpin(self, request, pk=None):
        self._empty_body(request)
        task = task_set_pinned(task_id=int(pk), pinned=False, user=request.user)
        return Response(task_serialize(task))

    @extend_schema(
        summary="Mark an item done or not done (all done: the task becomes ready).",
        request=TaskItemDoneInputSerializer,
        responses={200: TaskSerializer},
        parameters=[OpenApiParameter("item_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["patch"], url_path=r"items/(?P<item_id>[0-9]+)")
    def item_done(self, request, pk=None, item_id=None):
        data = TaskItemDoneInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = task_item_set_done(
            task_id=int(pk),
            item_id=int(item_id),
            done=data.validated_data["done"],
            user=request.user,
        )
        return Response(task_serialize(task))

    @extend_schema(
        summary="The event log after a seq, ascending (screens catch up from here).",
        parameters=[EventQuerySerializer],
        responses={200: TaskEventPageSerializer},
        filters=False,
    )
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None)
    def events(self, request):
        query = EventQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after_seq, limit = query.validated_data["after_seq"], query.validated_data["limit"]
        # One more than asked tells whether another page follows, without a count query.
        events = task_event_list(after_seq=after_seq, limit=limit + 1)
        page = events[:limit]
        return Response(
            {
                "results": [event_to_message(event) for event in page],
                "next_after_seq": page[-1].seq if page else after_seq,
                "has_more": len(events) > limit,
            }
        )
