"""vadlab.store: file identity, the result store (LRU, thread-safe) and the on-disk dataset scores."""
from __future__ import annotations

import os

import numpy as np
import pytest

from vadlab import store
from vadlab.outputs import FrameScores


def test_file_identity_changes_with_the_content_and_says_missing_when_asked(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one")
    before = store.file_identity(path)
    assert before.startswith(str(path.resolve()) + ":")
    path.write_text("three")
    os.utime(path, ns=(1, 1))
    assert store.file_identity(path) != before
    folder_before = store.file_identity(tmp_path)
    (tmp_path / "b.txt").write_text("")
    assert store.file_identity(tmp_path) != folder_before  # a new entry
    with pytest.raises(OSError):
        store.file_identity(tmp_path / "gone")
    assert store.file_identity(tmp_path / "gone", missing_ok=True) == f"{tmp_path / 'gone'}:missing"


def test_result_store_drops_the_least_recently_used():
    results = store.ResultStore(max_entries=2)
    results.put("a", 1)
    results.put("b", 2)
    assert results.get("a") == 1  # "b" is now the least recently used
    results.put("c", 3)
    assert results.keys() == ["a", "c"] and "b" not in results and len(results) == 2
    assert results.get_or_compute("a", lambda: pytest.fail("computed again")) == 1
    assert results.get_or_compute("d", lambda: 4) == 4 and results.get("missing") is None


def test_dataset_scores_round_trip_on_disk(tmp_path, monkeypatch):
    from vadlab.api import DatasetScores

    monkeypatch.setenv(store.CACHE_DIR_ENV, str(tmp_path / "cache"))
    fs = FrameScores(video="v", scores=np.linspace(0, 1, 5), raw=np.arange(5.0), scored=np.array([0, 1, 1, 1, 1], bool),
                     score_kind="mse", fps=10.0, pooled={"mean": np.arange(5.0)})
    labels = np.array([0, 0, 1, 1, 0], np.uint8)
    scored = DatasetScores({"v": fs}, {"v": labels}, decode_seconds=0.5, score_seconds=1.5, n_frames=5)
    stem = store.cache_stem(store.checkpoint_digest("w1", "conv_ae", "cpu"), store.sha("data"))
    assert stem.parent == tmp_path / "cache"
    assert store.load_scores(stem) is None
    store.save_scores(stem, scored, {"checkpoint": "c", "micro_auc": 0.5})
    back = store.load_scores(stem)
    assert back.n_frames == 5 and back.score_seconds == 1.5
    np.testing.assert_array_equal(back.scores["v"].scores, fs.scores)
    np.testing.assert_array_equal(back.scores["v"].pooled["mean"], fs.pooled["mean"])
    np.testing.assert_array_equal(back.labels["v"], labels)
    assert store.cached_evaluations() == [{"checkpoint": "c", "micro_auc": 0.5}]
    stem.with_suffix(".npz").write_bytes(b"damaged")
    assert store.load_scores(stem) is None  # a damaged file is a miss


def test_checkpoint_digest_names_the_weights_the_code_and_the_device():
    digest = store.checkpoint_digest("w1", "conv_ae", "cpu")
    assert digest != store.checkpoint_digest("w2", "conv_ae", "cpu")
    assert digest != store.checkpoint_digest("w1", "conv_ae", "cuda")
    assert digest != store.checkpoint_digest("w1", "ffp", "cpu")  # another family's code
