"""The task-create fast path agrees with ``TaskCreateInputSerializer``.

``task_create_input_fast`` returns validated data for plainly valid bodies and ``None`` for the
rest (the view then runs the serializer). The contract checked here: whenever it returns a dict,
the serializer is valid for the same body and its validated data is exactly equal (same values
and same types: ``True == 1`` and ``Decimal("0") == Decimal("0.00")`` do not count as equal).
Pure unit tests: neither side touches the database.
"""

import copy
import random
from decimal import Decimal

import pytest

from tasks.constants import MAX_ITEMS_PER_TASK
from tasks.limits import ITEM_NOTES_MAX_LENGTH, QUANTITY_MAX
from tasks.serializers import TaskCreateInputSerializer, task_create_input_fast

TEXT_LIMITS = {"workspace": 20, "customer_name": 100, "notes": 500}
MAX_ID = 2**63 - 1
_DROP = object()  # a key to leave out of _item() / _body()


def _typed(value):
    """``value`` with the type of every leaf spelled out, for an exact comparison."""
    if isinstance(value, dict):
        return {"<dict>": type(value).__name__, **{key: _typed(v) for key, v in value.items()}}
    if isinstance(value, list):
        return ["<list>", *(_typed(v) for v in value)]
    return (type(value).__name__, repr(value))


def _drf(data):
    """The serializer's validated data as plain dicts, or ``None`` when it rejects ``data``."""
    serializer = TaskCreateInputSerializer(data=data)
    if not serializer.is_valid():
        return None
    validated = dict(serializer.validated_data)
    validated["items"] = [dict(item) for item in validated["items"]]
    return validated


def _check(data):
    """Assert the contract for ``data``; return the fast path's answer."""
    before = repr(data)
    fast = task_create_input_fast(data)
    assert repr(data) == before, "the fast path changed its input"
    if fast is None:
        return None
    assert type(fast) is dict
    serializer = TaskCreateInputSerializer(data=copy.deepcopy(data))
    assert serializer.is_valid(), (data, serializer.errors)
    drf = _drf(data)
    assert _typed(fast) == _typed(drf), (data, fast, drf)
    assert fast["discount"] == Decimal("0.00") and str(fast["discount"]) == "0.00"
    return fast


def _item(**extra):
    item = {"agent_id": 7, "quantity": 2, "notes": "extra spicy"}
    item.update(extra)
    return {key: value for key, value in item.items() if value is not _DROP}


def _body(**extra):
    body = {
        "workspace": "A01",
        "customer_name": "Li Wei",
        "notes": "no peanuts",
        "items": [_item(), {"agent_id": 8, "quantity": 1}],
    }
    body.update(extra)
    return {key: value for key, value in body.items() if value is not _DROP}


ACCEPT, REJECT = "accept", "none"

CASES = [
    pytest.param(_body(), ACCEPT, id="typical"),
    pytest.param({"items": [{"agent_id": 1, "quantity": 1}]}, ACCEPT, id="only-required"),
    pytest.param(_body(workspace=_DROP), ACCEPT, id="no-workspace"),
    pytest.param(_body(customer_name=_DROP), ACCEPT, id="no-customer-name"),
    pytest.param(_body(notes=_DROP), ACCEPT, id="no-notes"),
    pytest.param(_body(items=[_item(notes=_DROP)]), ACCEPT, id="no-item-notes"),
    pytest.param(_body(items=_DROP), REJECT, id="no-items"),
    pytest.param(_body(items=[_item(agent_id=_DROP)]), REJECT, id="no-agent-id"),
    pytest.param(_body(items=[_item(quantity=_DROP)]), REJECT, id="no-quantity"),
    pytest.param(_body(workspace="", customer_name="", notes=""), ACCEPT, id="empty-texts"),
    pytest.param(_body(items=[_item(notes="")]), ACCEPT, id="empty-item-notes"),
    # Text at exactly its max length, and one over.
    *(
        pytest.param(_body(**{name: "x" * limit}), ACCEPT, id=f"{name}-at-max")
        for name, limit in TEXT_LIMITS.items()
    ),
    *(
        pytest.param(_body(**{name: "x" * (limit + 1)}), REJECT, id=f"{name}-over-max")
        for name, limit in TEXT_LIMITS.items()
    ),
    pytest.param(_body(items=[_item(notes="x" * ITEM_NOTES_MAX_LENGTH)]), ACCEPT, id="item-max"),
    pytest.param(
        _body(items=[_item(notes="x" * (ITEM_NOTES_MAX_LENGTH + 1))]), REJECT, id="item-over"
    ),
    pytest.param(_body(customer_name="张" * 100), ACCEPT, id="cjk-at-max"),
    pytest.param(_body(customer_name="张" * 101), REJECT, id="cjk-over-max"),
    # CJK text.
    pytest.param(
        _body(customer_name="张三", notes="少辣", items=[_item(notes="不要香菜")]),
        ACCEPT,
        id="cjk",
    ),
    pytest.param(_body(workspace="桌 3"), ACCEPT, id="inner-space"),
    # Surrounding whitespace: DRF trims it, so the fast path leaves it to DRF.
    pytest.param(_body(customer_name=" Li Wei"), REJECT, id="leading-space"),
    pytest.param(_body(customer_name="Li Wei "), REJECT, id="trailing-space"),
    pytest.param(_body(notes="no peanuts\n"), REJECT, id="trailing-newline"),
    pytest.param(_body(notes="\u3000少辣"), REJECT, id="ideographic-space"),
    pytest.param(_body(items=[_item(notes=" spicy")]), REJECT, id="item-leading-space"),
    pytest.param(_body(workspace="   "), REJECT, id="whitespace-only"),
    pytest.param(_body(items=[_item(notes="\t")]), REJECT, id="item-whitespace-only"),
    # Characters DRF refuses.
    pytest.param(_body(notes="a\x00b"), REJECT, id="nul"),
    pytest.param(_body(items=[_item(notes="\x00")]), REJECT, id="item-nul"),
    pytest.param(_body(customer_name="a\ud800b"), REJECT, id="lone-surrogate"),
    pytest.param(_body(items=[_item(notes="\udfff")]), REJECT, id="item-lone-surrogate"),
    pytest.param(_body(notes="😀 ok"), ACCEPT, id="astral-char"),
    # agent_id types and bounds.
    pytest.param(_body(items=[_item(agent_id=True)]), REJECT, id="agent-id-true"),
    pytest.param(_body(items=[_item(agent_id=1.0)]), REJECT, id="agent-id-float"),
    pytest.param(_body(items=[_item(agent_id="5")]), REJECT, id="agent-id-str"),
    pytest.param(_body(items=[_item(agent_id=None)]), REJECT, id="agent-id-none"),
    pytest.param(_body(items=[_item(agent_id=0)]), REJECT, id="agent-id-0"),
    pytest.param(_body(items=[_item(agent_id=-1)]), REJECT, id="agent-id-negative"),
    pytest.param(_body(items=[_item(agent_id=1)]), ACCEPT, id="agent-id-1"),
    pytest.param(_body(items=[_item(agent_id=MAX_ID)]), ACCEPT, id="agent-id-max"),
    pytest.param(_body(items=[_item(agent_id=2**63)]), REJECT, id="agent-id-over-max"),
    # quantity bounds and types.
    pytest.param(_body(items=[_item(quantity=0)]), REJECT, id="quantity-0"),
    pytest.param(_body(items=[_item(quantity=1)]), ACCEPT, id="quantity-1"),
    pytest.param(_body(items=[_item(quantity=QUANTITY_MAX)]), ACCEPT, id="quantity-999"),
    pytest.param(_body(items=[_item(quantity=QUANTITY_MAX + 1)]), REJECT, id="quantity-1000"),
    pytest.param(_body(items=[_item(quantity=False)]), REJECT, id="quantity-false"),
    pytest.param(_body(items=[_item(quantity=2.0)]), REJECT, id="quantity-float"),
    pytest.param(_body(items=[_item(quantity="2")]), REJECT, id="quantity-str"),
    # items shape.
    pytest.param(_body(items=[]), REJECT, id="items-empty"),
    pytest.param(
        _body(items=[_item(agent_id=i + 1) for i in range(MAX_ITEMS_PER_TASK)]),
        ACCEPT,
        id="items-100",
    ),
    pytest.param(
        _body(items=[_item(agent_id=i + 1) for i in range(MAX_ITEMS_PER_TASK + 1)]),
        REJECT,
        id="items-101",
    ),
    pytest.param(_body(items={"agent_id": 1, "quantity": 1}), REJECT, id="items-dict"),
    pytest.param(_body(items="1,2"), REJECT, id="items-str"),
    pytest.param(_body(items=None), REJECT, id="items-none"),
    pytest.param(_body(items=(_item(),)), REJECT, id="items-tuple"),
    pytest.param(_body(items=[_item(), [7, 2]]), REJECT, id="item-list"),
    pytest.param(_body(items=[_item(), 7]), REJECT, id="item-int"),
    pytest.param(_body(items=[None]), REJECT, id="item-none"),
    # Unknown fields.
    pytest.param(_body(table="A01"), REJECT, id="unknown-field"),
    pytest.param(_body(items=[_item(price="1.00")]), REJECT, id="unknown-item-field"),
    # A discount always goes through DRF.
    pytest.param(_body(discount="10.00"), REJECT, id="discount-str"),
    pytest.param(_body(discount=0), REJECT, id="discount-zero"),
    pytest.param(_body(discount=None), REJECT, id="discount-none"),
    # Not a dict.
    pytest.param([_body()], REJECT, id="body-list"),
    pytest.param("items", REJECT, id="body-str"),
    pytest.param(None, REJECT, id="body-none"),
    # None and other non-strings for text fields.
    pytest.param(_body(notes=None), REJECT, id="notes-none"),
    pytest.param(_body(items=[_item(notes=None)]), REJECT, id="item-notes-none"),
    pytest.param(_body(workspace=3), REJECT, id="workspace-int"),
    pytest.param(_body(customer_name=["Li"]), REJECT, id="customer-name-list"),
]


@pytest.mark.parametrize(("data", "decision"), CASES)
def test_fast_path_edge_cases(data, decision):
    fast = _check(data)
    assert (fast is not None) == (decision == ACCEPT), fast


def test_fast_path_returns_defaults_for_missing_optional_fields():
    assert _check({"items": [{"agent_id": 3, "quantity": 4}]}) == {
        "items": [{"agent_id": 3, "quantity": 4, "notes": ""}],
        "workspace": "",
        "customer_name": "",
        "notes": "",
        "discount": Decimal("0.00"),
        "priority": "normal",
    }


# Randomized agreement.

_PLAIN_CHARS = "abcXYZ019-_#.,!/张三少辣桌😀é"
_ODD_CHARS = [" ", "\t", "\n", "\x00", "\ud800", "\udfff", "\u3000", "\xa0", "\x85", "\x1f"]
_LENGTHS = [0, 1, 2, 5, 19, 20, 21, 99, 100, 101, 199, 200, 201, 499, 500, 501]
_EDGES = {"agent_id": [0, 1, MAX_ID, 2**63], "quantity": [0, 1, QUANTITY_MAX, QUANTITY_MAX + 1]}
_INTS = [-(2**63), -1, 0, 1, 2, 998, 999, 1000, MAX_ID - 1, MAX_ID, 2**63, 2**64, 10**30]


def _text(rng: random.Random) -> str:
    """A string: mostly plain, sometimes with odd characters anywhere, at boundary lengths."""
    length = rng.choice(_LENGTHS) if rng.random() < 0.3 else rng.randint(0, 12)
    chars = [rng.choice(_PLAIN_CHARS) for _ in range(length)]
    if chars and rng.random() < 0.3:
        odd = rng.choice(_ODD_CHARS)
        where = rng.choice([0, len(chars) - 1, rng.randrange(len(chars))])
        chars[where] = odd
    elif rng.random() < 0.05:
        chars = [rng.choice([" ", "\t", "\u3000"]) for _ in range(rng.randint(1, 3))]
    return "".join(chars)


def _value(rng: random.Random, depth: int = 0):
    """Any JSON-ish value (plus a few Python-only ones a view never sees, for robustness)."""
    kind = rng.choice(["int", "int", "bool", "float", "str", "str", "none", "list", "dict"])
    if kind == "int":
        return rng.choice(_INTS) if rng.random() < 0.6 else rng.randint(-5, 2000)
    if kind == "bool":
        return rng.choice([True, False])
    if kind == "float":
        return rng.choice([0.0, 1.0, 1.5, -1.0, 999.0, 1e20, float("inf"), float("nan")])
    if kind == "str":
        return rng.choice([_text(rng), "5", "1.0", " 7 ", "0", "10.00", "true"])
    if kind == "none":
        return None
    if depth > 1:
        return []
    if kind == "list":
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 2))]
    return {rng.choice(["agent_id", "quantity", "x"]): _value(rng, depth + 1)}


def _swapped(rng: random.Random, value):
    """``value`` as another type: ``2`` as ``True``, ``2.0``, ``"2"``, ``None``, ``[2]``..."""
    if type(value) is int:
        options = [value != 0, True, False, float(value), str(value), f" {value}"]
    elif type(value) is str:
        options = [len(value), value != "", float(len(value)), value.upper()]
    else:
        return _value(rng)
    return rng.choice([*options, None, [value], {"value": value}])


def _random_item(rng: random.Random) -> dict:
    item = {"agent_id": rng.randint(1, 50), "quantity": rng.randint(1, 5)}
    if rng.random() < 0.6:
        item["notes"] = _text(rng) if rng.random() < 0.5 else rng.choice(["", "少辣", "no ice"])
    return item


def _random_body(rng: random.Random) -> dict:
    count = rng.choice([1, 1, 2, 3, 5]) if rng.random() < 0.97 else rng.choice([100, 101])
    body = {"items": [_random_item(rng) for _ in range(count)]}
    for name in TEXT_LIMITS:
        if rng.random() < 0.7:
            body[name] = rng.choice(["", "A01", "张三", "no peanuts", "x" * TEXT_LIMITS[name]])
    return body


def _mutate(rng: random.Random, body: dict):
    """One random change to ``body`` (in place), or a replacement body."""
    action = rng.randrange(12)
    items = body.get("items")
    item_index = rng.randrange(len(items)) if type(items) is list and items else None
    if action == 0 and body:
        del body[rng.choice(sorted(body))]
    elif action == 1:
        body[rng.choice(["discount", "table", "item", "Items", "id"])] = _value(rng)
    elif action in (2, 3):
        body[rng.choice([*TEXT_LIMITS, "items"])] = _text(rng) if action == 2 else _value(rng)
    elif action in (4, 5, 6, 7) and item_index is not None:
        item = items[item_index]
        if type(item) is not dict:
            items[item_index] = _random_item(rng)
        elif action == 4 and item:
            del item[rng.choice(sorted(item))]
        elif action == 5:
            item[rng.choice(["price", "name", "Notes", "agentId"])] = _value(rng)
        else:
            key = rng.choice(["agent_id", "quantity", "notes"])
            if key == "notes":
                item[key] = _text(rng) if action == 6 else _value(rng)
            else:
                edges = _EDGES[key] if rng.random() < 0.7 else _INTS
                item[key] = rng.choice(edges) if action == 6 else _value(rng)
    elif action == 8 and item_index is not None:
        items[item_index] = _value(rng)
    elif action == 9:
        body["items"] = rng.choice([[], {}, None, "[]", [_random_item(rng)] * 101, _value(rng)])
    elif action == 10 and rng.random() < 0.2:
        return rng.choice([[body], "{}", None, 0, []])
    elif action == 11:
        # Swap the type of one present field, top level or in an item.
        target = body
        if item_index is not None and type(items[item_index]) is dict and rng.random() < 0.7:
            target = items[item_index]
        if target:
            key = rng.choice(sorted(target))
            target[key] = _swapped(rng, target[key])
    return body


@pytest.mark.parametrize("seed", [1, 2, 3, 20240607])
def test_fast_path_agrees_with_serializer_on_random_bodies(seed):
    rng = random.Random(seed)
    accepted = 0
    runs = 500
    for _ in range(runs):
        body = _random_body(rng)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            body = _mutate(rng, body)
            if type(body) is not dict:
                break
        if _check(body) is not None:
            accepted += 1
    # Not vacuous: a good share of the bodies take the fast path, and many do not.
    assert runs * 0.1 < accepted < runs * 0.9, accepted
