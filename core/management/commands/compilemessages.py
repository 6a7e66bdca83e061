"""``compilemessages`` in pure Python (polib), shadowing Django's, which needs GNU gettext's
``msgfmt``: the install step (``make``, the Dockerfile) runs on machines with only Python 3.11.

Compiles every ``.po`` under ``settings.LOCALE_PATHS`` (the project's catalogs; installed
packages ship their own ``.mo``) to the ``.mo`` beside it. Fuzzy and untranslated entries are
left out, as ``msgfmt`` does. No database is needed. See docs/i18n.md.
"""

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _


def catalogs(locales: list[str] | None = None) -> list[Path]:
    """The project's ``.po`` files, optionally only those of ``locales`` (``zh_Hans``)."""
    found = []
    for root in settings.LOCALE_PATHS:
        for po in sorted(Path(root).glob("*/LC_MESSAGES/*.po")):
            if not locales or po.parent.parent.name in locales:
                found.append(po)
    return found


def compile_catalog(po_path: Path, mo_path: Path | None = None) -> polib.POFile:
    """Write ``po_path``'s ``.mo`` (beside it unless ``mo_path``); returns the parsed catalog."""
    catalog = polib.pofile(str(po_path), wrapwidth=0)
    target = mo_path or po_path.with_suffix(".mo")
    # Written under a temporary name, then renamed: a server reading the catalog while this
    # runs sees the old file or the new one, never half of one.
    partial = target.with_name(target.name + ".partial")
    catalog.save_as_mofile(str(partial))
    partial.replace(target)
    return catalog


class Command(BaseCommand):
    help = _("Compile the project's .po catalogs to .mo files (pure Python, no msgfmt needed).")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--locale", "-l", action="append", default=[], help=_("Only this locale (zh_Hans).")
        )

    def handle(self, *args, **options):
        found = catalogs(options["locale"])
        if not found:
            raise CommandError(_("No .po catalog found under LOCALE_PATHS."))
        for po_path in found:
            catalog = compile_catalog(po_path)
            if options["verbosity"] > 0:
                self.stdout.write(
                    _("%(path)s: %(count)d messages compiled")
                    % {"path": po_path, "count": len(catalog.translated_entries())}
                )
