"""Storage: SQLAlchemy tables, plain repository functions, Alembic migrations, the record writer."""
