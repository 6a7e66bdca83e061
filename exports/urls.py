from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("organization/export", views.ExportViewSet, basename="organization-export")

urlpatterns = router.urls
