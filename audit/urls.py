from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("audit", views.AuditEventViewSet, basename="audit")

urlpatterns: list = router.urls
