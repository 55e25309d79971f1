"""POP3 server (RFC 1939, CAPA, STLS, AUTH PLAIN, RESP-CODES) over the INBOX (docs/pop3.md)."""

from mailgate.protocols.pop3.listeners import Pop3Listeners, start_pop3

__all__ = ["Pop3Listeners", "start_pop3"]
