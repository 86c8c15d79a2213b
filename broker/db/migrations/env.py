"""Alembic environment: runs on the connection ``broker.db.engine.Database.migrate`` passes.

``target_metadata`` is the whole of ``broker.db.models``: importing the package registers
every table, whichever concept module holds it.

The revisions are numbered in the order they run, 0001 to the head, one line of history
(``tests/storage/test_migration_history.py`` keeps it so). Before the first release the
files and revision ids were renumbered into that order (they had been merged from branches
as 0001, 0007, 0006, 0002, 0004, 0005, 0003). That was safe only because no deployed
database existed yet: a database stamped with an old id would now run the wrong
migrations. From the first release on, a revision id never changes once shipped.
"""

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
