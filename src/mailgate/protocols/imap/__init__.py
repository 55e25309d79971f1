"""IMAP4rev2/IMAP4rev1 protocol layer without I/O (STYLE.md habit 1).

Pipeline for one connection::

    reader = FrameReader(FrameLimits(...))          # framing.py
    for event in reader.feed(data):
        CommandFrame     -> parse_command(frame, ParserOptions(...))  -> commands.*
        NeedContinuation -> send response.continuation()
        FrameError       -> send response.tagged(err.response_tag, err.status, err.text, err.code)

``ParseError`` (lexer.py) is the only exception the parser raises.
"""

from __future__ import annotations

from . import commands, response
from .framing import (
    CommandFrame,
    Event,
    FrameError,
    FrameErrorKind,
    FrameLimits,
    FrameReader,
    NeedContinuation,
)
from .lexer import ParseError
from .mutf7 import MUTF7Error
from .parser import ParserOptions, is_done, parse, parse_command, parse_sasl_response
from .sequence import SequenceSet, SequenceSetError

__all__ = [
    "CommandFrame",
    "Event",
    "FrameError",
    "FrameErrorKind",
    "FrameLimits",
    "FrameReader",
    "MUTF7Error",
    "NeedContinuation",
    "ParseError",
    "ParserOptions",
    "SequenceSet",
    "SequenceSetError",
    "commands",
    "is_done",
    "parse",
    "parse_command",
    "parse_sasl_response",
    "response",
]
