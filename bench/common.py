"""Helpers the benchmark scripts share (no Django: safe before the database exists)."""

import urllib.parse


def psycopg_url(database_url: str) -> str:
    """``postgres://`` (Django's spelling) as ``postgresql://`` (libpq's)."""
    return database_url.replace("postgres://", "postgresql://", 1)


def ensure_database(database_url: str) -> None:
    """Create the benchmark's database if it does not exist (never a test database)."""
    import psycopg

    parts = urllib.parse.urlparse(database_url)
    name = parts.path.lstrip("/")
    admin = psycopg_url(parts._replace(path="/postgres").geturl())
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
