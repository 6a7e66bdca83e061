"""Email backends of the project.

``EmlFileBackend`` (``EMAIL_URL=emlfile:///.data/mail``, what `make run` uses) writes every
message to its own ``.eml`` file, which any mail client opens and a test can parse, and logs its
subject and the first link in it, so a developer sees the invitation or reset link in the
worker's output. Django's own file backend appends every message of a process to one ``.log``
file, which is neither.
"""

import logging
import os
import re
import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

logger = logging.getLogger(__name__)
_LINK = re.compile(r"https?://[^\s\"'<>]+")


class EmlFileBackend(BaseEmailBackend):
    def __init__(self, file_path: str | None = None, fail_silently: bool = False, **kwargs):
        super().__init__(fail_silently=fail_silently, **kwargs)
        path = Path(file_path or getattr(settings, "EMAIL_FILE_PATH", "") or ".data/mail")
        self.directory = path if path.is_absolute() else Path(settings.BASE_DIR) / path

    def send_messages(self, email_messages) -> int:
        if not email_messages:
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            try:
                path = self._write(message)
            except Exception:
                if not self.fail_silently:
                    raise
                continue
            link = _LINK.search(message.body or "")
            logger.info(
                "email written: %s | to %s | %s | %s",
                message.subject,
                ", ".join(message.to),
                link.group(0) if link else "(no link)",
                path,
            )
            sent += 1
        return sent

    def _write(self, message) -> Path:
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        # Written aside, then renamed: whoever watches the directory never reads half a file.
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(message.message().as_bytes(linesep="\n"))
        os.replace(partial, path)
        return path
