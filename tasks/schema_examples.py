"""OpenAPI examples of task create: the request, its answer and each error it can send.

The values are what the API really answers (core/tests/test_generated_client.py drives the same
cases through a generated client); the messages are the English ones.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from core.schema import ErrorSerializer

from .serializers import TaskSerializer


def _error(name: str, code: str, message: str, details: dict, status: str) -> OpenApiExample:
    return OpenApiExample(
        name,
        value={"error": {"code": code, "message": message, "details": details}},
        response_only=True,
        status_codes=[status],
    )


_KEY = {"key": "8c2b6f0e-6d1e-4a55-9a57-0f3f1f9d2c11"}

CREATE_REQUEST = OpenApiExample(
    "Three items",
    value={
        "items": [
            {"agent_id": 12, "quantity": 2},
            {"agent_id": 31, "quantity": 1},
            {"agent_id": 12, "quantity": 1, "notes": "no onion"},
        ],
        "workspace": "T4",
        "customer_name": "Li",
        "priority": "normal",
    },
    request_only=True,
)

CREATED = OpenApiExample(
    "Created (pending)",
    value={
        "id": 901,
        "number": "20260314-0042",
        "business_date": "2026-03-14",
        "status": "pending",
        "priority": "normal",
        "workspace": "T4",
        "customer_name": "Li",
        "notes": "",
        "subtotal": "40.50",
        "discount": "0.00",
        "total": "40.50",
        "pinned": False,
        "created_by": 7,
        "created_at": "2026-03-14T12:03:11.402911+08:00",
        "updated_at": "2026-03-14T12:03:11.402911+08:00",
        "accepted_at": None,
        "started_at": None,
        "ready_at": None,
        "completed_at": None,
        "cancelled_at": None,
        "expired_at": None,
        "cancel_reason": "",
        "items": [
            {
                "id": 2201,
                "agent_id": 12,
                "agent_name": "Ramen",
                "category_id": 3,
                "category_name": "Noodles",
                "unit_price": "12.50",
                "quantity": 2,
                "line_total": "25.00",
                "notes": "",
                "done": False,
                "done_at": None,
                "added_at": None,
            }
        ],
    },
    response_only=True,
    status_codes=["201"],
)

CREATE_RESPONSES = {
    201: OpenApiResponse(TaskSerializer, examples=[CREATED]),
    400: OpenApiResponse(
        ErrorSerializer,
        description="Codes: VALIDATION_ERROR (details.fields), AGENT_NOT_FOUND (details.agent_ids "
        "and details.fields.items), MALFORMED_REQUEST.",
        examples=[
            _error(
                "Validation error",
                "VALIDATION_ERROR",
                "Some fields are invalid.",
                {
                    "fields": {
                        "items": [
                            {"quantity": ["Ensure this value is greater than or equal to 1."]}
                        ]
                    }
                },
                "400",
            ),
            _error(
                "Unknown agent",
                "AGENT_NOT_FOUND",
                "Some agents do not exist.",
                {"agent_ids": [99], "fields": {"items": [{}, {"agent_id": ["Unknown agent."]}]}},
                "400",
            ),
        ],
    ),
    409: OpenApiResponse(
        ErrorSerializer,
        description="Codes: INSUFFICIENT_STOCK (details.agents: requested and available), "
        "AGENT_UNAVAILABLE, IDEMPOTENCY_IN_PROGRESS (the first request with this "
        "Idempotency-Key is still running: retry).",
        examples=[
            _error(
                "Not enough stock",
                "INSUFFICIENT_STOCK",
                "Not enough stock for some agents.",
                {"agents": [{"agent_id": 12, "name": "Ramen", "requested": 50, "available": 7}]},
                "409",
            ),
            _error(
                "Agent not available",
                "AGENT_UNAVAILABLE",
                "Some agents are not available.",
                {"agents": [{"agent_id": 31, "name": "Tea"}]},
                "409",
            ),
            _error(
                "Same key still running",
                "IDEMPOTENCY_IN_PROGRESS",
                "A request with this Idempotency-Key is still being processed.",
                _KEY,
                "409",
            ),
        ],
    ),
    422: OpenApiResponse(
        ErrorSerializer,
        description="Code: IDEMPOTENCY_KEY_REUSED (the key was used with another body).",
        examples=[
            _error(
                "Key reused with another body",
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was already used with a different request body.",
                _KEY,
                "422",
            )
        ],
    ),
}
