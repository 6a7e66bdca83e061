"""A bench-only tenant app (installed by bench/settings_migrate.py only): 0001 creates its table,
0002 is "the new migration" bench/migrate_bench.py applies to every schema of a fleet."""
