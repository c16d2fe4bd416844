"""Django's PostgreSQL backend, with a connection pool that stops waiting on a database that is
down (`core.postgresql.base`). ENGINE "core.postgresql" in settings.DATABASES."""
