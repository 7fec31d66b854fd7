"""Authentication: API keys checked from memory, refreshed from the database in the background."""
