"""The admin REST API under /api/: teams, apps, keys, budgets, costs, audit, requests; and its OpenAPI."""
