"""Persistence: SQLAlchemy Core tables and repositories, Alembic migrations."""
