"""The activity tests use ``database_engine`` (tests/conftest.py): SQLite and PostgreSQL."""
