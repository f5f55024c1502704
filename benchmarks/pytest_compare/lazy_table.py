"""A module imported lazily, on first use, that builds a table at import."""

TABLE = {f"key-{i}": i for i in range(5000)}
