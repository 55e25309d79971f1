"""SMTP on aiosmtpd: MX, submission and submissions listeners (docs/smtp.md)."""

from mailgate.protocols.smtp.listeners import SmtpListeners, server_tls_context, start_smtp

__all__ = ["SmtpListeners", "server_tls_context", "start_smtp"]
