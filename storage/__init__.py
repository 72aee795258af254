"""The SQLite store: schema, migrations and the transactional operations."""
