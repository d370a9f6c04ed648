"""Errors on a page: our exceptions become an `st.error` with their message, never a traceback.

    with user_errors():                 # stops this run of the page after showing the message
        video = decode(source)

Every vadlab error raised at a boundary (VideoDecodeError, CheckpointError, DatasetError,
DeviceError, PathNotAllowedError, VideoTooShortError, ...) is a ValueError (or a FileNotFoundError /
KeyError) whose message says what to do, so the message alone is shown. Anything else is a bug: it
is shown as one line naming the exception type (still no traceback) and logged for the developer.
The app keeps working: the user can change an input and the page runs again.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

log = logging.getLogger("vadlab.ui")

# Errors a user can act on: their messages are written for the user.
ERROR_ICON = ":material/error:"  # every problem shown on a page carries it (anomaly alerts do not)
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, KeyError, PermissionError)


def error_message(exc: BaseException) -> str:
    """The text shown for an exception: its message for user errors, type + message otherwise."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    text = text.strip() or type(exc).__name__
    if isinstance(exc, USER_ERRORS):
        return text
    return f"Unexpected error ({type(exc).__name__}): {text}. Please report it with the steps that led here."


def with_context(context: str, message: str) -> str:
    """"Scoring 04" + "04: 180 labels..." -> "Scoring 04: 180 labels..." (the subject once, not twice)."""
    if not context:
        return message
    subject = context.split()[-1]
    if message.startswith(f"{subject}: "):
        message = message[len(subject) + 2:]
    return f"{context}: {message}"


class ErrorReport:
    """What `user_errors` caught: `failed` is True when an exception was shown."""

    def __init__(self) -> None:
        self.failed = False
        self.message = ""


@contextmanager
def user_errors(context: str = "", stop: bool = True) -> Iterator[ErrorReport]:
    """Show any exception raised in the block as `st.error(message)`.

    context: prefixed to the message ("Scoring test_01: ...").
    stop: end this script run after the message (`st.stop()`), so the rest of the page, which
    depends on the failed step, does not run; with stop=False the block's `report.failed` says
    whether it failed and the page goes on. Streamlit's own control flow (st.stop, st.rerun) passes
    through untouched (those are BaseExceptions, not Exceptions).
    """
    report = ErrorReport()
    try:
        yield report
    except Exception as exc:  # noqa: BLE001 - shown to the user; the app keeps working
        if not isinstance(exc, USER_ERRORS):
            log.exception("unexpected error in the app")
        report.failed = True
        report.message = error_message(exc)
        st.error(with_context(context, report.message), icon=ERROR_ICON)
        if stop:
            st.stop()
