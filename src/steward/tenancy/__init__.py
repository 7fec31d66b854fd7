"""Organisation -> teams -> apps, people's roles, and the admin actions on them (each audited)."""
