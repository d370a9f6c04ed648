"""Named limits on the work one upload can cause, for a lab served to others.

Each limit has a name, a default and an environment variable that overrides it (read on every
use, so a server picks up a new value at its next decode). A refusal is one line that names the
limit and its variable, e.g.

    big.png: 144,000,000 pixels per frame (12000 x 12000), over the limit of 8,294,400
    (decoded pixels per frame, VADLAB_MAX_FRAME_PIXELS); lower the resolution

    limit                      variable                   default
    decoded pixels per frame   VADLAB_MAX_FRAME_PIXELS    8,294,400 (3840 x 2160)
    frames per upload (app)    VADLAB_MAX_FRAMES          2000 (longer clips are cut, visibly)
    decoded bytes per upload   VADLAB_MAX_DECODED_MB      512 (longer clips are cut, visibly)
    uncompressed zip bytes     VADLAB_MAX_ZIP_MB          512 (counted while streaming)
    concurrent decodes         VADLAB_MAX_DECODES         2 per server process
    wait for a decode slot     VADLAB_DECODE_WAIT_S       20 s, then a refusal
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

MB = 1024 * 1024


class LimitExceeded(ValueError):
    """An input over one of the named limits: the message names the limit and its variable."""


@dataclass(frozen=True)
class Limit:
    """One named limit: `value()` is the environment's override (in `unit`s), else `default`."""

    what: str  # "decoded pixels per frame"
    env: str  # "VADLAB_MAX_FRAME_PIXELS"
    default: float
    unit: float = 1  # bytes per unit of the variable (MB for the *_MB variables)

    def value(self) -> int:
        """The limit now, in base units (pixels, frames, bytes, decodes, seconds)."""
        text = os.environ.get(self.env, "").strip()
        try:
            number = float(text) if text else float(self.default)
        except ValueError:
            raise LimitExceeded(f"{self.env}={text!r} is not a number; set it to a number ({self.what})") from None
        return int(number * self.unit)

    def refuse(self, subject: str, amount: str, advice: str) -> LimitExceeded:
        """The one-line refusal: "<subject>: <amount>, over the limit of N (<what>, <ENV>); <advice>"."""
        shown = self.value() / self.unit
        limit = f"{shown:,.0f}" + (" MB" if self.unit == MB else "")
        return LimitExceeded(f"{subject}: {amount}, over the limit of {limit} ({self.what}, {self.env}); {advice}")


FRAME_PIXELS = Limit("decoded pixels per frame", "VADLAB_MAX_FRAME_PIXELS", 3840 * 2160)
UPLOAD_FRAMES = Limit("frames decoded per upload", "VADLAB_MAX_FRAMES", 2000)
DECODED_BYTES = Limit("decoded bytes per upload", "VADLAB_MAX_DECODED_MB", 512, MB)
ZIP_BYTES = Limit("uncompressed bytes of a zip", "VADLAB_MAX_ZIP_MB", 512, MB)
CONCURRENT_DECODES = Limit("decodes at once per server", "VADLAB_MAX_DECODES", 2)
DECODE_WAIT_S = Limit("seconds an upload waits for a decode slot", "VADLAB_DECODE_WAIT_S", 20)
ALL = (FRAME_PIXELS, UPLOAD_FRAMES, DECODED_BYTES, ZIP_BYTES, CONCURRENT_DECODES, DECODE_WAIT_S)


def check_frame_pixels(width: int, height: int, subject: str) -> None:
    """Refuse frames of more than FRAME_PIXELS pixels (checked from the header, before decoding)."""
    pixels = int(width) * int(height)
    if pixels > FRAME_PIXELS.value():
        raise FRAME_PIXELS.refuse(subject, f"{pixels:,} pixels per frame ({width} x {height})",
                                  "lower the resolution")


def frames_within_budget(max_frames: int | None, height: int, width: int) -> int:
    """The most frames of `height` x `width` RGB (as decoded, after any downscale) that fit both
    `max_frames` and DECODED_BYTES (at least 1)."""
    budget = max(1, DECODED_BYTES.value() // max(1, int(height) * int(width) * 3))
    return budget if max_frames is None else min(int(max_frames), budget)


def max_image_file_bytes() -> int:
    """The largest image file (zip entry) worth reading: an uncompressed RGBA frame at FRAME_PIXELS.
    No real frame image is larger; a zip entry that is, is refused before it is read."""
    return FRAME_PIXELS.value() * 4 + MB


def check_image_file_bytes(size: int, subject: str) -> None:
    """Refuse an image file (zip entry) larger than `max_image_file_bytes` (from its declared size)."""
    if size > max_image_file_bytes():
        raise FRAME_PIXELS.refuse(subject, f"a {size / MB:,.0f} MB image file, larger than an uncompressed frame at "
                                           f"the pixel limit ({max_image_file_bytes() / MB:,.0f} MB)",
                                  "lower the resolution")


class _Slots:
    """A process-wide counting semaphore whose size follows CONCURRENT_DECODES."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = 0
        self._freed = threading.Condition(self._lock)

    @contextmanager
    def hold(self, subject: str, wait_s: float) -> Iterator[None]:
        """Hold one decode slot for the block; wait up to `wait_s` for one, then refuse."""
        with self._freed:
            if not self._freed.wait_for(lambda: self._busy < CONCURRENT_DECODES.value(), timeout=wait_s):
                raise CONCURRENT_DECODES.refuse(subject, f"{self._busy} decodes are running",
                                                "try again in a moment")
            self._busy += 1
        try:
            yield
        finally:
            with self._freed:
                self._busy -= 1
                self._freed.notify_all()


DECODE_SLOTS = _Slots()


@contextmanager
def decode_slot(subject: str) -> Iterator[None]:
    """Hold one of the server's CONCURRENT_DECODES slots while decoding `subject` (waiting at most
    DECODE_WAIT_S for one); refuse with LimitExceeded when none frees up."""
    with DECODE_SLOTS.hold(subject, float(DECODE_WAIT_S.value())):
        yield
