from django.apps import AppConfig


class MigbenchConfig(AppConfig):
    name = "bench.migbench"
    label = "migbench"
    default_auto_field = "django.db.models.BigAutoField"
