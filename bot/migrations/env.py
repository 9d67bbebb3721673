from alembic import context
from sqlalchemy import text

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    # Replicas starting together would race to create the same tables; one migrates at a time.
    connection.execute(text("SELECT pg_advisory_xact_lock(74211)"))
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
