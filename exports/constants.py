"""Tunables of the export job (docs/export.md)."""

# Rows fetched per round trip from a server-side cursor: what one table holds in memory.
CHUNK_SIZE = 2000
# The job row's progress is written every this many rows (and at the end of each table).
PROGRESS_EVERY = 5000
# Bytes copied at a time from a stored report workbook into the archive.
COPY_BUFFER = 1024 * 1024
# A job redelivered this many times (a worker killed mid-job each time) fails for good instead
# of killing the next worker too.
MAX_ATTEMPTS = 3
ZIP_CONTENT_TYPE = "application/zip"
# The archive's layout; bumped when a file's meaning changes (manifest.json "format").
FORMAT_VERSION = 1
