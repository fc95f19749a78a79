"""The organisation: beat offices and staff accounts, managed by admins."""
