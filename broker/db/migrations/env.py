"""Alembic environment: runs on the connection ``broker.db.engine.Database.migrate`` passes."""

from __future__ import annotations

from alembic import context

from broker.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("migrations run through broker.db.engine.Database.migrate")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
