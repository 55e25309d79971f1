"""Mailgate: company mail accounts from application to inbox."""

__version__ = "0.1.0"
