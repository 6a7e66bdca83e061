"""The API's JSON parser: bounded nesting, and every decode failure a 400 in the envelope.

Python's decoder recurses once per ``[``/``{``: a body of a few hundred KB of brackets ends in
``RecursionError``, which DRF does not turn into a parse error (500, traceback logged). No
request of this API nests deeper than a few levels, so bodies nesting past ``MAX_JSON_DEPTH``
are refused before they are decoded, and whatever the decoder still raises is a 400.
"""

import json
import re

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.parsers import JSONParser

# Deepest accepted nesting of arrays and objects; the deepest real body (a task with its
# items) is 3. JSON fields that store a structure (peak_windows) stay far below it.
MAX_JSON_DEPTH = 32

# A JSON string, escapes included (the unrolled form: no backtracking on long strings).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENERS = (ord("["), ord("{"))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``raw`` nests arrays/objects deeper than ``limit`` (brackets in strings aside)."""
    # Fast path, and the common one: too few openers to ever reach the limit.
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a depth limit, strict constants and no 500 on any input."""

    def parse(self, stream, media_type=None, parser_context=None):
        # Imported here: core.exceptions imports rest_framework.views, which loads this module.
        from .exceptions import MalformedRequestError

        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        # The body is already bounded by MAX_REQUEST_BYTES (core.middleware, core.asgi_limits).
        raw = stream.read() if stream is not None else b""
        if json_depth_exceeds(raw):
            raise MalformedRequestError(
                _("JSON nested deeper than %(depth)d levels.") % {"depth": MAX_JSON_DEPTH},
                details={"max_depth": MAX_JSON_DEPTH},
            )
        try:
            text = raw.decode(encoding)
            # NaN and Infinity are not JSON (and would reach Decimal fields as such).
            return json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError, LookupError) as exc:
            # ValueError covers JSONDecodeError and UnicodeDecodeError; LookupError an unknown
            # charset in the Content-Type. The message names the position, never the content.
            raise MalformedRequestError(
                _("The body is not valid JSON: %(reason)s") % {"reason": _reason(exc)}
            ) from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return str(_("the bytes are not valid text in the declared charset"))
    if isinstance(exc, RecursionError):
        return str(_("nested too deeply"))
    return str(exc)
