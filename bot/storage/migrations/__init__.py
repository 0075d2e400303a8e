"""kukey's Alembic migrations (env.py, versions/); bot.storage.schema runs them."""
