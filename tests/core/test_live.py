"""The threaded live session (`vadlab.live`): a live source that outruns the scorer drops the oldest
waiting frames, every frame is accounted for and no window spans a drop; the bounded queue's
policies."""
from __future__ import annotations

import time

import numpy as np

from test_stream import clip, loaded, one_thread  # noqa: F401  (the shared model, clip and one torch thread)
from vadlab.data.clips import to_model_frames
from vadlab.data.sources import FrameSource, SourceFrame
from vadlab.data.video import read_video
from vadlab.live import FrameQueue, LiveStream
from vadlab.scoring import score_frames
from vadlab.stream import StreamSettings


class _FastCamera(FrameSource):
    """A live source that hands over frames faster than any model scores them (a clip in memory,
    no pacing): the scorer must drop, not queue."""

    live = True

    def __init__(self, frames: np.ndarray):
        super().__init__("fast-camera")
        self.fps = 1000.0
        self.images = frames
        self.most_waiting = 0

    def frames(self):
        for i, image in enumerate(self.images):
            if self.closed:
                return
            yield SourceFrame(i, image, time.monotonic())


def test_a_live_source_that_outruns_the_scorer_drops_the_oldest_frames_and_never_scores_across_a_drop(loaded, clip):
    """Whatever gets dropped (that depends on the machine), every frame is accounted for, and a
    frame scored on a window of its own has the score of the same frame in the continuous pass."""
    images = np.concatenate([read_video(clip).frames] * 3)  # 360 frames
    c = loaded.model.config
    offline = score_frames(loaded.model, to_model_frames(images, c.channels, c.height, c.width), "window", "mse").scores
    source = _FastCamera(images)
    stream = LiveStream(loaded, source, StreamSettings(queue_frames=4, batch_size=2))
    assert stream.drop_policy == "oldest"
    verdicts, waiting = [], []
    for update in stream.run():
        verdicts += update.verdicts
        waiting.append(update.stats.waiting)
    stats = stream.stats()
    assert stats.received == len(images) and stats.dropped > 0
    assert stats.dropped + stats.skipped + len(verdicts) == len(images) and stats.judged == len(verdicts)
    assert max(waiting) <= 4
    indices = [v.index for v in verdicts]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    own = [v for v in verdicts if v.scored]
    assert own and stats.scored == len(own)
    np.testing.assert_allclose([v.score for v in own], offline[[v.index for v in own]], rtol=1e-5)
    assert stats.gaps >= sum(v.gap > 0 for v in verdicts)  # a gap shows on the first frame judged after it


def test_frame_queue_policies():
    queue = FrameQueue(2, drop_oldest=True)
    for i in range(5):
        queue.put(i)
    assert queue.take(10, 0.01) == [3, 4] and queue.dropped == 3 and queue.received == 5
    blocking = FrameQueue(1, drop_oldest=False)
    blocking.put(0)
    blocking.close()
    blocking.put(1)  # closed: returns at once instead of waiting
    assert blocking.take(5, 0.01) == [0] and blocking.finished
