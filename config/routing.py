"""WebSocket routing. The realtime app plugs its tenant middleware and consumers in here."""

from channels.routing import URLRouter

websocket_urlpatterns: list = []
websocket_application = URLRouter(websocket_urlpatterns)
