"""Staff authentication, roles and permissions."""
