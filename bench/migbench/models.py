from django.db import models


class BenchNote(models.Model):
    """A small tenant table; 0002 adds ``external_ref`` (nullable, no default) and its index."""

    title = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    external_ref = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001

    class Meta:
        indexes = [models.Index(fields=["external_ref"], name="migbench_note_ext_ref_idx")]

    def __str__(self) -> str:
        return self.title
