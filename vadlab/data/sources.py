"""Live sources: frames that arrive over time, one `FrameSource` each, opened by `open_source`.

A URL (RTSP, RTMP, HTTP, UDP, SRT ... through PyAV: `UrlSource`, reconnected with backoff, only to
the hosts a `StreamHostPolicy` allows), a camera device (`DeviceSource`), a recording still being
written (`FollowSource`: a growing file or a folder that new frame images land in), a finished file
replayed at its frame rate (`FileSource`, paced by a `Clock`) or frames pushed from another thread
(`CallbackSource`: the browser's webcam). A source that cannot be opened, stalls or breaks raises a
one-line `StreamError`. Decoding itself (frames, limits, downscaling) is `vadlab.data.video`'s.
"""
from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from vadlab.data.video import (FOLDER_FPS, VideoDecodeError, _check_limits, _downscale, _image_to_rgb, _probe_file,
                               _short, _target_size, is_image_file, iter_video, natural_key, probe_video)


def _quiet_ffmpeg() -> None:
    """FFmpeg's own log lines (`[http @ 0x...] URL read error`) would interleave with ours; what a
    user needs from a live source is in our one-line StreamError messages."""
    import av.logging

    av.logging.set_libav_level(av.logging.PANIC)


class StreamError(ValueError):
    """A live source that cannot be opened, stalls, breaks or never answers.

    The message starts with the source, says what happened (and after which frame) and what was
    tried, e.g. `udp://127.0.0.1:5000: stream lost after frame 120 (no data for 2 s); 2 reconnect
    attempts failed`."""


DEFAULT_RETRIES = 8  # reconnect attempts in a row for a live URL or camera (with MAX_BACKOFF_S: ~24 s of trying)
MAX_BACKOFF_S = 4.0  # the longest wait between two attempts
URL_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
FOLLOW_FORMATS = {".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts", ".mkv": "matroska", ".webm": "matroska",
                  ".flv": "flv", ".mp4": "mp4", ".mov": "mov"}


STREAM_HOSTS_ENV = "VADLAB_STREAM_HOSTS"


@dataclass(frozen=True)
class StreamHostPolicy:
    """Which hosts a stream URL may point the server at (a lab served to others must not become a
    way into the machines only the server can reach: its own ports, the private network).

    allowed: host names, IP addresses and CIDR ranges ("cam.example.org", "192.168.1.20",
    "10.0.0.0/8"), "*" for any host. When it lists anything, a URL's host must match an entry (by
    name, or every address it resolves to inside a listed address or range). When it is empty, any
    host is allowed whose addresses are all public (or multicast); loopback, private, link-local and
    unspecified ones (`udp://@:5000` listens on this machine) only with allow_private.
    The app builds it with `from_environment`: the list from VADLAB_STREAM_HOSTS (comma-separated),
    private addresses allowed only when the app is bound to localhost (then only its own user can
    type a URL). Names are resolved once, here; FFmpeg resolves them again when it connects, so list
    addresses, not names, where DNS is not trusted."""

    allowed: tuple[str, ...] = ()
    allow_private: bool = False

    @classmethod
    def from_environment(cls, local_only_server: bool) -> "StreamHostPolicy":
        text = os.environ.get(STREAM_HOSTS_ENV, "")
        return cls(tuple(h.strip().lower() for h in text.split(",") if h.strip()), allow_private=local_only_server)

    def check(self, url: str) -> str:
        """`url` when its host is allowed, else StreamError naming the host and how to allow it."""
        import ipaddress
        import socket
        from urllib.parse import urlsplit

        try:
            host = (urlsplit(url).hostname or "").strip("[]").lower()
        except ValueError as exc:
            raise StreamError(f"{url}: not a valid stream URL ({exc})") from None
        if "*" in self.allowed or (host and host in self.allowed):
            return url
        shown = host or "(none: the stream is received on every interface of this machine)"
        try:
            addresses = {ipaddress.ip_address(host or "0.0.0.0")}
        except ValueError:
            try:
                addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in socket.getaddrinfo(host, None)}
            except (OSError, UnicodeError) as exc:
                raise StreamError(f"{url}: cannot resolve the host '{host}' ({exc})") from None
        how = (f"the server's administrator can allow it with {STREAM_HOSTS_ENV} (comma-separated hosts, addresses "
               f"or ranges, e.g. {STREAM_HOSTS_ENV}=192.168.1.20,10.0.0.0/8)")
        if self.allowed:
            networks = []
            for entry in self.allowed:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    pass  # a host name: matched above
            if not all(any(a in n for n in networks if n.version == a.version) for a in addresses):
                raise StreamError(f"{url}: the host {shown} is not in the allowed stream hosts "
                                  f"({', '.join(self.allowed)}); {how}")
            return url
        internal = sorted(str(a) for a in addresses if not a.is_global and not a.is_multicast)
        if internal and not self.allow_private:
            raise StreamError(f"{url}: the host {shown} is a loopback or private address ({', '.join(internal)}), "
                              f"which the lab does not connect to while it is served to other machines; {how}")
        return url


def source_kind(source: str | Path) -> str:
    """"url" (rtsp://, rtmp://, http(s)://, udp://, tcp://, srt://, ...), "device" (/dev/videoN or a
    camera number), "folder" (frame images) or "file"."""
    text = str(source)
    if URL_PATTERN.match(text) and not text.startswith("file://"):
        return "url"
    if text.isdigit() or text.startswith("/dev/video"):
        return "device"
    return "folder" if Path(text).is_dir() else "file"


@dataclass
class SourceFrame:
    """One frame as it arrived.

    index:   0-based number of the frame in the source (the reader's count: after a reconnect the
             numbering continues, so frame numbers are unique within one watch).
    image:   uint8 (H, W, 3) RGB, longer side <= the source's max_side (area downscale).
    arrival: time.monotonic() in seconds when the frame was decoded and handed over; latency is
             measured from here (network and decoder delay before it are not included).
    """

    index: int
    image: np.ndarray
    arrival: float


class FrameSource:
    """Frames that arrive over time: iterate `frames()`; `close()` stops it from another thread.

    name: the source as the user gave it; fps: frames per second the source declares (None until
    it is open, or when it declares none); live: frames come at the source's pace (a camera, a URL,
    a file played in real time), so a scorer that falls behind must drop frames rather than wait.
    `frames()` ends when the source ends and raises StreamError when it cannot be read.
    """

    live = True

    def __init__(self, name: str, max_side: Optional[int] = 640):
        _check_limits(None, max_side, 0)
        self.name = name
        self.max_side = max_side
        self.fps: Optional[float] = None
        self.width = self.height = 0  # native frame size, once known
        self.closed = False
        self.note = ""  # how the source ended, in words (shown in summaries)
        self.status = ""  # what the source is doing now when not delivering (e.g. "reconnecting: attempt 2 ...")
        self.incidents: list[dict] = []  # reconnects and losses, in order (appended by the reader thread)
        self.lost = 0  # frames the source produced that never arrived (estimated across a reconnect)

    def close(self) -> None:
        self.closed = True

    def _incident(self, kind: str, **fields) -> None:
        self.incidents.append({"event": kind, "source": self.name, **fields, "at": time.monotonic()})

    def frames(self) -> Iterator[SourceFrame]:  # pragma: no cover - interface
        raise NotImplementedError

    def _shrink(self, rgb: np.ndarray) -> np.ndarray:
        size = _target_size(rgb.shape[0], rgb.shape[1], self.max_side)
        return _downscale(rgb[None], size)[0] if size != rgb.shape[:2] else rgb

    def _decode(self, container, first_index: int) -> Iterator[SourceFrame]:
        """Frames of an open PyAV container, numbered from first_index."""
        stream = container.streams.video[0]
        # slice threads only: frame threading would hold back (threads - 1) frames, i.e. latency
        stream.thread_type = "SLICE"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate and self.fps is None:
            self.fps = float(rate)
        index = first_index
        for frame in container.decode(stream):
            if self.closed:
                return
            rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3)
            self.height, self.width = rgb.shape[:2]
            yield SourceFrame(index, self._shrink(rgb), time.monotonic())
            index += 1


class Clock:
    """The clock a replay paces itself by: `now()` in seconds (time.monotonic) and `sleep(s)`."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock(Clock):
    """A clock that only moves when something sleeps on it: a real-time replay paced by it hands
    its frames over at once, with the arrival times a real replay would have (tests)."""

    def __init__(self, start: float = 0.0):
        self.time = float(start)

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, float(seconds))


class FileSource(FrameSource):
    """A finished video file or frame folder, decoded chunk by chunk (`iter_video`).

    realtime: hand frames over at the file's own frame rate, or at `rate` frames/s when given (a
    recording replayed as if live: the benchmark and the app's demo source); otherwise as fast as
    they decode (live = False: a scorer that falls behind makes the reader wait, and no frame is
    dropped). loop: start again at the end (until max_frames frames, or close()). clock: what the
    replay is paced by and arrivals are stamped with (a `ManualClock` in tests: no real waiting)."""

    def __init__(self, path: str | Path, max_side: Optional[int] = 640, realtime: bool = False, loop: bool = False,
                 max_frames: Optional[int] = None, rate: Optional[float] = None, clock: Optional[Clock] = None):
        super().__init__(str(path), max_side)
        self.clock = clock or Clock()
        self.path = Path(path)
        self.live = realtime
        self.loop = loop
        self.max_frames = max_frames
        info = probe_video(self.path) if self.path.is_dir() else _probe_file(self.path, self.path.name)
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be a positive number of frames/s, got {rate}")
        self.fps = float(rate) if rate else (info.fps or FOLDER_FPS)
        self.width, self.height = info.width, info.height

    def _images(self) -> Iterator[np.ndarray]:
        """The file's frames one by one. Replayed live, a video file is decoded frame by frame
        (as a camera delivers them: no burst of decoding every 64 frames to compete with the
        scorer); otherwise chunk by chunk (`iter_video`, the frames `read_video` gives)."""
        if self.live and not self.path.is_dir():
            import av

            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "SLICE"
                for frame in container.decode(stream):
                    yield self._shrink(frame.to_ndarray(format="rgb24"))
            return
        _, chunks = iter_video(self.path, self.max_side)
        for chunk in chunks:
            yield from chunk

    def frames(self) -> Iterator[SourceFrame]:
        index = 0
        start = self.clock.now()
        while True:
            for image in self._images():
                if self.closed or (self.max_frames is not None and index >= self.max_frames):
                    return
                if self.live:  # the frame's due time on the file's clock
                    delay = start + index / self.fps - self.clock.now()
                    if delay > 0:
                        self.clock.sleep(delay)
                yield SourceFrame(index, image, self.clock.now())
                index += 1
            if not self.loop:
                self.note = "end of file"
                return


class UrlSource(FrameSource):
    """A network stream through PyAV (FFmpeg): RTSP, RTMP, HTTP(S), UDP, TCP, SRT, HLS ...

    open_timeout / read_timeout (s): how long to wait for the stream to open, and for data once
    it is open (a stall). A stall, a broken stream and, unless `end_on_eof`, a stream the server
    ends (a live source does not end: a camera server restarting looks like that) are reconnected:
    up to `retries` attempts in a row, waiting backoff, 2 x backoff, 4 x backoff ... s (at most
    `max_backoff` s) between them; a stream that never opens is retried the same way. Each loss
    and each reconnect is logged in `incidents`. end_on_eof: the server ending the stream ends
    `frames()` normally (a URL that serves a finished file). Anything else raises StreamError with
    one line: what happened, after which frame, what was tried.

    Frame numbers stay on the source's clock across a reconnect: the frames the source produced
    while it was away (estimated from the time between the last frame before and the first after,
    at the stream's frame rate) are counted in `lost` and skipped in the numbering, so frame N is
    still at about N / fps s since the stream started.
    options: FFmpeg options for the protocol / demuxer (e.g. {"rtsp_transport": "tcp"}).
    """

    def __init__(self, url: str, max_side: Optional[int] = 640, open_timeout: float = 5.0,
                 read_timeout: float = 5.0, retries: int = DEFAULT_RETRIES, backoff: float = 0.5,
                 options: Optional[dict] = None, format: Optional[str] = None, end_on_eof: bool = False,
                 max_backoff: float = MAX_BACKOFF_S):
        super().__init__(url, max_side)
        if retries < 0 or backoff < 0 or open_timeout <= 0 or read_timeout <= 0 or max_backoff < 0:
            raise ValueError("timeouts must be > 0 s, retries >= 0 and backoff >= 0 s")
        self.open_timeout, self.read_timeout = float(open_timeout), float(read_timeout)
        self.retries, self.backoff, self.max_backoff = int(retries), float(backoff), float(max_backoff)
        self.end_on_eof = bool(end_on_eof)
        # start quickly: probe at most 1 s of the stream for its parameters (FFmpeg's default is 5 s)
        self.options = {"analyzeduration": "1000000", **dict(options or {})}
        self.format = format
        self.reconnects = 0  # reconnect attempts (after the first frame)

    def _open(self):
        import av

        _quiet_ffmpeg()
        return av.open(self.name, format=self.format, options=self.options,
                       timeout=(self.open_timeout, self.read_timeout))

    def _wait(self, seconds: float) -> None:
        """Sleep between attempts, waking at once when the source is closed."""
        deadline = time.monotonic() + seconds
        while not self.closed and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def frames(self) -> Iterator[SourceFrame]:
        index = 0  # the next frame's number
        failures = 0  # consecutive attempts that gave no frame
        first_try = time.monotonic()
        reason = lost = ""
        last_arrival: Optional[float] = None  # of the last frame before a loss
        while not self.closed:
            away = index > 0 and failures > 0  # reconnecting after a loss
            try:
                container = self._open()
            except Exception as exc:  # av.FFmpegError, OSError: refused, timed out, not found ...
                reason = self._reason(exc, opening=True)
            else:
                try:
                    if not container.streams.video:
                        raise StreamError(f"{self.name}: no video stream in it "
                                          f"(streams: {', '.join(sorted({s.type for s in container.streams})) or 'none'})")
                    for frame in self._decode(container, 0):
                        if away:  # the first frame after a reconnect: number it on the source's clock
                            missed = max(0, round((frame.arrival - last_arrival) * (self.fps or 25.0)) - 1)
                            self.lost += missed
                            index += missed
                            self._incident("reconnected", attempt=failures, next_frame=index, lost_frames=missed,
                                           down_s=round(frame.arrival - last_arrival, 3))
                            away = False
                        self.status = ""
                        yield SourceFrame(index, frame.image, frame.arrival)
                        last_arrival = frame.arrival
                        index += 1
                        failures = 0
                    if self.closed:
                        return
                    # the demuxer reached the end: the server ended the stream
                    if self.end_on_eof or index == 0:
                        self.note = "the stream ended"
                        return
                    reason = "the server ended the stream"
                    if failures == 0:
                        lost = reason
                        self._incident("lost", after_frame=index - 1, reason=reason)
                except StreamError:
                    raise
                except Exception as exc:
                    reason = self._reason(exc, opening=False)
                    if failures == 0 and index > 0:
                        lost = reason  # why the stream was lost (reconnect attempts may fail otherwise)
                        self._incident("lost", after_frame=index - 1, reason=reason)
                finally:
                    container.close()
            if self.closed:
                return
            failures += 1
            if failures > self.retries:
                tried = f"{failures} attempt{'s' if failures != 1 else ''}"
                self.status = ""
                if index == 0:
                    raise StreamError(f"{self.name}: no answer ({reason}); gave up after {tried} in "
                                      f"{time.monotonic() - first_try:.0f} s; check the address and that the "
                                      "stream is running") from None
                attempts = failures - 1
                raise StreamError(f"{self.name}: stream lost after frame {index - 1} ({lost or reason}); "
                                  f"{attempts} reconnect attempt{'s' if attempts != 1 else ''} failed"
                                  + (f" ({reason})" if attempts else "")) from None
            wait = min(self.backoff * 2 ** (failures - 1), self.max_backoff)
            if index > 0:
                self.reconnects += 1
                self.status = f"reconnecting: attempt {failures} of {self.retries} in {wait:.1f} s ({reason})"
                self._incident("reconnecting", attempt=failures, of=self.retries, wait_s=round(wait, 3), reason=reason)
            self._wait(wait)

    def _reason(self, exc: BaseException, opening: bool) -> str:
        import av

        if isinstance(exc, av.error.ExitError):  # our timeout interrupted FFmpeg
            return (f"nothing within {self.open_timeout:g} s" if opening
                    else f"no data for {self.read_timeout:g} s")
        return _short(exc)


class DeviceSource(UrlSource):
    """A local camera through FFmpeg's capture devices: "/dev/video0" (Linux, v4l2) or a number N
    (= /dev/videoN). Reconnected like a URL when it stalls, breaks or ends."""

    def __init__(self, device: str, max_side: Optional[int] = 640, **kwargs):
        path = f"/dev/video{device}" if str(device).isdigit() else str(device)
        super().__init__(path, max_side, format=kwargs.pop("format", "v4l2"), **kwargs)
        if not Path(path).exists():
            raise StreamError(f"{path}: no such camera device (is a camera connected, and is the user in the "
                              "'video' group?)")


class _GrowingReader:
    """A file-like object over a file that is still being written: `read` waits for more bytes and
    reports the end once the file has not grown for `idle_timeout` seconds, or at once when the
    file shrank (truncated: shorter than what was read) or was replaced by another file under its
    name: a new recording, which this reader's demuxer cannot continue into (`restarted` says
    which). Checked whenever the reader has caught up with the writer, so a recorder that cuts the
    file and writes past the read position before the next look is not seen (the first bytes are
    not compared: Matroska muxers rewrite their header when they finish)."""

    def __init__(self, path: Path, idle_timeout: float, source: "FollowSource"):
        self.path = path
        self.handle = open(path, "rb")
        self.inode = os.fstat(self.handle.fileno()).st_ino
        self.idle_timeout = idle_timeout
        self.source = source
        self.last_growth = time.monotonic()
        self.ended = False  # sticky: the demuxer may ask again after the end, and must not wait again
        self.restarted: Optional[str] = None  # "truncated" | "replaced" once detected

    def _restarted(self) -> Optional[str]:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return None  # being replaced right now (or removed): look again
        if now.st_ino != self.inode:
            return "replaced"
        if now.st_size < self.handle.tell():
            return "truncated"
        return None

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else 65536
        while not self.ended:
            data = self.handle.read(size)
            if data:
                self.last_growth = time.monotonic()
                return data
            self.restarted = self._restarted()
            if self.restarted or self.source.closed or time.monotonic() - self.last_growth > self.idle_timeout:
                self.ended = True
                break
            time.sleep(0.02)
        return b""

    def close(self) -> None:
        self.handle.close()


class FollowSource(FrameSource):
    """A recording still being written (`vadlab watch --follow`): a video file that grows, or a
    folder that new frame images appear in (sorted naturally, as `read_video` sorts them).

    The source waits up to `idle_timeout` s for the file or the first image to appear, reads new
    data as it lands, and ends normally once nothing new has arrived for `idle_timeout` s (the
    recording stopped). A growing file must be in a container that can be read before it is
    finished: MPEG-TS (.ts), Matroska (.mkv, .webm) or FLV; an .mp4 / .mov is only readable once
    its index is written (at the end), unless it is fragmented.

    Not `live`: what was written stays on disk, so a scorer that falls behind makes the reader wait
    (no frame is dropped) and catches up later."""

    live = False

    def __init__(self, path: str | Path, max_side: Optional[int] = 640, idle_timeout: float = 5.0,
                 folder_fps: float = FOLDER_FPS):
        super().__init__(str(path), max_side)
        self.path = Path(path)
        self.idle_timeout = float(idle_timeout)
        self.folder_fps = folder_fps

    def _wait_for_path(self) -> None:
        deadline = time.monotonic() + self.idle_timeout
        while not self.path.exists():
            if self.closed:
                return
            if time.monotonic() > deadline:
                raise StreamError(f"{self.name}: no such file or folder, and none appeared within "
                                  f"{self.idle_timeout:g} s")
            time.sleep(0.05)

    def frames(self) -> Iterator[SourceFrame]:
        self._wait_for_path()
        if self.closed:
            return
        if self.path.is_dir():
            yield from self._folder_frames()
        else:
            yield from self._file_frames()

    def _folder_frames(self) -> Iterator[SourceFrame]:
        from PIL import Image

        self.fps = self.folder_fps
        done: set[str] = set()
        index = 0
        quiet_since = time.monotonic()
        pending: dict[str, int] = {}  # name -> size at the last look (an image is read once its size holds)
        while not self.closed:
            new = sorted((p for p in self.path.iterdir() if is_image_file(p) and p.name not in done),
                         key=lambda p: natural_key(p.name))
            ready = []
            for p in new:
                size = p.stat().st_size
                if size and pending.get(p.name) == size:
                    ready.append(p)
                else:
                    pending[p.name] = size
                    break  # keep the order: a later image waits for this one
            for p in ready:
                try:
                    with Image.open(p) as img:
                        rgb = _image_to_rgb(img, f"{self.name}/{p.name}")
                except VideoDecodeError:
                    raise
                except Exception as exc:
                    raise StreamError(f"{self.name}/{p.name}: not a readable image ({_short(exc)})") from None
                done.add(p.name)
                pending.pop(p.name, None)
                self.height, self.width = rgb.shape[:2]
                yield SourceFrame(index, self._shrink(rgb), time.monotonic())
                index += 1
                quiet_since = time.monotonic()
            if not ready:
                if time.monotonic() - quiet_since > self.idle_timeout:
                    self.note = f"no new frame for {self.idle_timeout:g} s"
                    return
                time.sleep(0.05)

    def _file_frames(self) -> Iterator[SourceFrame]:
        import av

        _quiet_ffmpeg()
        reader = _GrowingReader(self.path, self.idle_timeout, self)
        index = 0
        try:
            try:
                container = av.open(reader, format=FOLLOW_FORMATS.get(self.path.suffix.lower()),
                                    options={"analyzeduration": "1000000"})
            except Exception as exc:
                hint = (" (an .mp4/.mov is readable only once finished: record to .ts or .mkv to follow it)"
                        if self.path.suffix.lower() in (".mp4", ".mov") else "")
                raise StreamError(f"{self.name}: cannot read the recording ({_short(exc)}){hint}") from None
            with container:
                if not container.streams.video:
                    raise StreamError(f"{self.name}: no video stream in it")
                for frame in self._decode(container, 0):
                    yield frame
                    index += 1
            self.note = (f"the file was {reader.restarted} after frame {index - 1} (a new recording): watch it "
                         "again to follow the new one" if reader.restarted else
                         f"the file stopped growing for {self.idle_timeout:g} s")
        except StreamError:
            raise
        except Exception as exc:
            raise StreamError(f"{self.name}: reading failed after frame {index - 1} ({_short(exc)})") from None
        finally:
            reader.close()


class CallbackSource(FrameSource):
    """Frames pushed from another thread (streamlit-webrtc's frame callback): `put` never blocks
    (the oldest frame waiting here goes when 4 wait, counted in `lost`: the stream's reader never
    saw it; the stream's own queue applies its drop policy after that). The frame rate is measured
    from the arrivals."""

    live = True

    def __init__(self, name: str = "webcam", max_side: Optional[int] = 640):
        super().__init__(name, max_side)
        self._frames: deque[SourceFrame] = deque(maxlen=4)
        self._cond = threading.Condition()
        self._count = 0
        self._first = 0.0

    def put(self, image: np.ndarray) -> None:
        now = time.monotonic()
        with self._cond:
            if self._count == 0:
                self._first = now
            elif self._count >= 10 and self.fps is None:
                self.fps = round(self._count / (now - self._first), 1)
            if len(self._frames) == self._frames.maxlen:
                self.lost += 1  # the oldest waiting frame goes; its number stays skipped (a gap)
            self._frames.append(SourceFrame(self._count, self._shrink(image), now))
            self._count += 1
            self._cond.notify_all()

    def frames(self):
        while not self.closed:
            with self._cond:
                if not self._frames:
                    self._cond.wait(0.2)
                batch = list(self._frames)
                self._frames.clear()
            yield from batch
        self.note = "the camera stopped"

    def close(self) -> None:
        super().close()
        with self._cond:
            self._cond.notify_all()


def open_source(source: str | Path, follow: bool = False, max_side: Optional[int] = 640, realtime: bool = False,
                timeout: float = 5.0, retries: int = DEFAULT_RETRIES, backoff: float = 0.5,
                options: Optional[dict] = None, end_on_eof: bool = False) -> FrameSource:
    """The FrameSource for what a user typed: a URL, a camera device, or a file / frame folder
    (`follow`: still being written; `realtime`: a finished file replayed at its frame rate).

    timeout (s): open and stall timeout of URLs and cameras, and how long a followed recording may
    stay unchanged before it counts as finished. retries / backoff / end_on_eof: reconnection of
    URLs and cameras (see UrlSource; by default a live source that ends is reconnected). Raises
    FileNotFoundError for a missing file (unless followed) and VideoDecodeError for one that is
    not a video."""
    kind = source_kind(source)
    if kind == "url":
        return UrlSource(str(source), max_side, open_timeout=timeout, read_timeout=timeout, retries=retries,
                         backoff=backoff, options=options, end_on_eof=end_on_eof)
    if kind == "device":
        return DeviceSource(str(source), max_side, open_timeout=timeout, read_timeout=timeout, retries=retries,
                            backoff=backoff, options=options, end_on_eof=end_on_eof)
    if follow:
        return FollowSource(source, max_side, idle_timeout=timeout)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path.name}: no such file or folder ({path}); a recording still being written "
                                "needs --follow")
    return FileSource(path, max_side, realtime=realtime)
