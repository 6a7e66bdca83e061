"""Login brute-force lockout: 5 failures per email, 20 per client IP, in a 15-minute window.

An attempt is counted *before* its password is checked, in one atomic Redis step (a Lua
script): both counters are incremented and compared with their limits together, so 16
concurrent guesses for one email check at most 5 passwords and answer 429 for the rest. A
refused attempt is not counted (it checked nothing); a successful one gives its count back
(``login_attempt_succeeded``: the counters hold failures, and a success does not wipe the
failures an attacker made before it). The window starts at the first failure (the expiry is
set only when a counter is created) and is not extended by later attempts.

The script uses only commands Redis 6.2 has (``EXPIRE`` when the count is 1, not
``EXPIRE ... NX``, a Redis 7 option). If Redis cannot be reached, logins are refused with 503
``AUTH_UNAVAILABLE``: a lockout that silently stops counting is no lockout.

The counters live outside the tenant key prefix (users and their emails are global), so the
API login of every organization and the Django admin login share them.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.utils.translation import gettext_lazy as _

from core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

KEY_PREFIX = "cc:login-fail:"
_EMAIL_KEY = KEY_PREFIX + "email:{}"
_IP_KEY = KEY_PREFIX + "ip:{}"
# Seconds a client is told to wait before retrying when the store is unreachable.
UNAVAILABLE_RETRY_SECONDS = 5


class LoginLocked(ApplicationError):
    status_code = 429
    code = "LOGIN_LOCKED"
    default_message = _("Too many failed logins. Try again later.")

    def __init__(self, retry_after: int):
        super().__init__(details={"retry_after_seconds": retry_after})
        self.retry_after = retry_after


class AuthUnavailable(ApplicationError):
    """The store behind lockout and token revocation (Redis) cannot be reached: fail closed."""

    status_code = 503
    code = "AUTH_UNAVAILABLE"
    default_message = _("Sign-in is temporarily unavailable. Try again in a few seconds.")

    def __init__(self):
        super().__init__(details={"retry_after_seconds": UNAVAILABLE_RETRY_SECONDS})
        self.retry_after = UNAVAILABLE_RETRY_SECONDS


# KEYS: the counters (email, ip). ARGV: the window (s), then each counter's limit.
# Returns 0 when the attempt may check its password, else the seconds until the fullest
# counter over its limit expires (the increments of a refused attempt are taken back).
_BEGIN_LUA = """
local counts = {}
local retry = 0
for i = 1, #KEYS do
    local count = redis.call('INCR', KEYS[i])
    if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end
    counts[i] = count
    if count > tonumber(ARGV[i + 1]) then
        local ttl = redis.call('TTL', KEYS[i])
        if ttl < 1 then ttl = 1 end
        if ttl > retry then retry = ttl end
    end
end
if retry > 0 then
    for i = 1, #KEYS do redis.call('DECR', KEYS[i]) end
end
return retry
"""
# A success gives its count back, without creating a counter that has expired since.
_RELEASE_LUA = """
for i = 1, #KEYS do
    if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""
_scripts: dict[str, object] = {}


@dataclass(frozen=True)
class LoginAttempt:
    """A counted attempt, handed back to ``login_attempt_succeeded`` when the password was right."""

    keys: tuple[str, ...]


def normalize_email(email: str) -> str:
    return email.strip().lower()[:254]


def _redis():
    # The raw client: the keys are global, not under the tenant key prefix.
    return caches["default"].client.get_client(write=True)


def _run(name: str, source: str, keys: list[str], args: list) -> int:
    client = _redis()
    script = _scripts.get(name)
    if script is None or script.registered_client is not client:
        # Script objects cache the SHA; EVALSHA falls back to EVAL after a Redis restart.
        script = _scripts[name] = client.register_script(source)
    return int(script(keys=keys, args=args))


def login_attempt_begin(*, email: str, ip: str) -> LoginAttempt:
    """Count an attempt for ``email`` from ``ip``; raise ``LoginLocked`` (nothing counted) while
    either counter is at its limit, whatever the password, or ``AuthUnavailable``."""
    keys = [_EMAIL_KEY.format(normalize_email(email)), _IP_KEY.format(ip)]
    args = [
        settings.LOGIN_LOCKOUT_WINDOW_SECONDS,
        settings.LOGIN_LOCKOUT_PER_EMAIL,
        settings.LOGIN_LOCKOUT_PER_IP,
    ]
    try:
        retry_after = _run("begin", _BEGIN_LUA, keys, args)
    except Exception as exc:
        logger.warning("login lockout store unreachable: login refused", exc_info=True)
        raise AuthUnavailable() from exc
    if retry_after:
        raise LoginLocked(retry_after=retry_after)
    return LoginAttempt(keys=tuple(keys))


def login_attempt_succeeded(attempt: LoginAttempt) -> None:
    """The password was right: the attempt is not a failure."""
    try:
        _run("release", _RELEASE_LUA, list(attempt.keys), [])
    except Exception:
        # The login itself is done; the counter expires with its window.
        logger.warning("login lockout: could not give a successful attempt back", exc_info=True)


# --- Operators: the list of counters and the unlock action (Django admin) --------------------


@dataclass(frozen=True)
class LockoutCounter:
    key: str
    kind: str  # "email" or "ip"
    subject: str
    count: int
    limit: int
    seconds_left: int

    @property
    def locked(self) -> bool:
        return self.count >= self.limit


def lockout_list(*, limit: int = 500) -> list[LockoutCounter]:
    """The current counters (locked ones first), read with SCAN (never KEYS)."""
    try:
        client = _redis()
        keys = []
        for key in client.scan_iter(match=KEY_PREFIX + "*", count=500):
            keys.append(key.decode() if isinstance(key, bytes) else key)
            if len(keys) >= limit:
                break
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        values = pipe.execute()
    except Exception as exc:
        logger.warning("login lockout store unreachable: cannot list lockouts", exc_info=True)
        raise AuthUnavailable() from exc
    counters = []
    for index, key in enumerate(keys):
        count, ttl = values[2 * index], values[2 * index + 1]
        if count is None or int(count) <= 0:
            continue
        kind, subject = key[len(KEY_PREFIX) :].split(":", 1)
        limit_of = (
            settings.LOGIN_LOCKOUT_PER_EMAIL if kind == "email" else settings.LOGIN_LOCKOUT_PER_IP
        )
        counters.append(
            LockoutCounter(
                key=key,
                kind=kind,
                subject=subject,
                count=int(count),
                limit=limit_of,
                seconds_left=max(int(ttl), 0),
            )
        )
    counters.sort(key=lambda c: (not c.locked, -c.count, c.key))
    return counters


def lockout_unlock(*, key: str) -> bool:
    """Delete one counter (an operator's unlock). Only lockout keys can be deleted."""
    if not key.startswith(KEY_PREFIX):
        return False
    try:
        return bool(_redis().delete(key))
    except Exception as exc:
        logger.warning("login lockout store unreachable: cannot unlock", exc_info=True)
        raise AuthUnavailable() from exc
