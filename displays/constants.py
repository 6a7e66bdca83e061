"""Realtime constants: WebSocket close codes, error codes, limits."""

# WebSocket close codes (4000-4999 are application codes; the HTTP analogue is in the name).
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TENANT_NOT_FOUND = 4404

# A screen more than this many events behind gets a snapshot instead of a replay.
REPLAY_LIMIT = 1000
# Events fetched per query while replaying.
REPLAY_BATCH = 500

SCREEN_TOKEN_BYTES = 32
TICKET_BYTES = 24
TICKET_KEY = "ws-ticket:{ticket}"
SCREEN_AUTH_KEYWORD = "Screen"


class PrincipalKind:
    SCREEN = "screen"
    USER = "user"
