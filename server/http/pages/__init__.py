"""Staff pages, one module per area."""
