"""WebSocket routing: Origin check, then the organization from the Host, then the consumers."""

from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

from displays.middleware import TenantWebsocketMiddleware
from displays.routing import websocket_urlpatterns

websocket_application = AllowedHostsOriginValidator(
    TenantWebsocketMiddleware(URLRouter(websocket_urlpatterns))
)
