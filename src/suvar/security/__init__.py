"""Security: API tokens (stored as SHA-256 hashes) and their scopes. Roles and users come with issue 8."""
