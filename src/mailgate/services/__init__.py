"""Use cases. Each public method is one transaction and writes its own audit event."""
