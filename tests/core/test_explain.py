"""vadlab.explain: window alignment, SVD explorer, Captum attributions on real tiny models."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vadlab import explain, plots
from vadlab.api import LoadedModel, as_video, model_frames, score_video
from vadlab.registry import create_model, get_spec


def tiny(family: str, seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel(model=create_model(family, "tiny").eval(), spec=get_spec(family), metadata={})


def indexed_frames(n: int, size: int = 64) -> torch.Tensor:
    """uint8 (n, 1, size, size) where every pixel of frame i equals i: a frame's identity is its value."""
    return torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 1, size, size).contiguous()


@pytest.fixture(scope="module")
def conv_ae() -> LoadedModel:
    return tiny("conv_ae")


@pytest.fixture(scope="module")
def ffp() -> LoadedModel:
    return tiny("ffp")


# ------------------------------------------------------------------------------------ windows
@pytest.mark.parametrize("family", ["conv_ae", "ffp"])
def test_window_for_frame_alignment(family):
    loaded = tiny(family)
    t = loaded.model.config.window
    frames = indexed_frames(12)
    value = lambda x: int(round((float(x.flatten()[0]) + 1) * 127.5))  # noqa: E731  [-1, 1] -> frame index
    clip, target = explain.window_for_frame(loaded, frames, 8)
    assert clip.shape == (1, 1, t, 64, 64) and target.shape == (1, 1, 64, 64)
    window_frames = [value(clip[0, 0, i]) for i in range(t)]
    if loaded.spec.target == "window":  # the window ENDS at the frame
        assert window_frames == list(range(8 - t + 1, 9)) and value(target) == 8
    else:  # "next": the window is the T frames BEFORE it
        assert window_frames == list(range(8 - t, 8)) and value(target) == 8
    # clamped at the start: frame 0 is explained by the first window that scores a frame
    clip0, target0 = explain.window_for_frame(loaded, frames, 0)
    first_scored = t - 1 if loaded.spec.target == "window" else t
    assert value(clip0[0, 0, 0]) == 0 and value(target0) == first_scored
    with pytest.raises(IndexError, match="outside the video"):
        explain.window_for_frame(loaded, frames, 12)


def test_window_matches_the_scores(conv_ae, ffp):
    """The explained score is exactly the score `score_video` gives the frame (same window)."""
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    for loaded in (conv_ae, ffp):
        fs = score_video(loaded, video, keep_maps=False)
        frames = model_frames(loaded.model, as_video(video))
        for index in (0, 6):
            clip, target = explain.window_for_frame(loaded, frames, index)
            with torch.no_grad():
                score = float(loaded.model.anomaly_score(clip, target)[0])
            assert score == pytest.approx(fs.scores[index], rel=1e-4, abs=1e-5)


def test_window_for_frame_refuses_wrong_resolution(conv_ae):
    with pytest.raises(ValueError, match="model's resolution"):
        explain.window_for_frame(conv_ae, torch.zeros(8, 1, 32, 32, dtype=torch.uint8), 5)


# ------------------------------------------------------------------------------------ SVD
def test_rank_r_of_a_rank_one_matrix_reproduces_it():
    u, v = np.linspace(-1, 1, 48), np.cos(np.linspace(0, 3, 40))
    m = np.outer(u, v)  # rank 1
    np.testing.assert_allclose(explain.rank_r(m, 1), m, atol=1e-5)
    s = explain.svd_spectrum(m)
    assert s.shape == (40,) and s[0] == pytest.approx(np.linalg.norm(m)) and s[1] < 1e-10


def test_rank_r_is_the_best_approximation_and_validates_r():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(32, 24))
    u, s, vh = np.linalg.svd(m, full_matrices=False)
    approx = explain.rank_r(m, 5)
    np.testing.assert_allclose(approx, (u[:, :5] * s[:5]) @ vh[:5], atol=1e-4)
    # Eckart-Young: the error is the energy of the discarded singular values
    assert np.linalg.norm(m - approx) == pytest.approx(np.sqrt((s[5:] ** 2).sum()), rel=1e-4)
    with pytest.raises(ValueError, match="rank r"):
        explain.rank_r(m, 25)


def test_cumulative_energy_ends_at_one_and_is_monotone():
    energy = explain.cumulative_energy(explain.svd_spectrum(np.random.default_rng(2).random((20, 30))))
    assert energy[-1] == pytest.approx(1.0) and np.all(np.diff(energy) >= -1e-12) and energy[0] > 0.5
    assert explain.cumulative_energy(np.zeros(4)).tolist() == [0, 0, 0, 0]


def test_svd_explorer_difference_is_what_the_svd_loss_sees():
    from vadlab.models.svd_gan import svd_loss

    rng = np.random.default_rng(3)
    frame, recon = rng.uniform(-1, 1, (32, 32)), rng.uniform(-1, 1, (32, 32))
    result = explain.svd_explorer(frame, recon, 4)
    np.testing.assert_allclose(result["difference"], result["frame_r"] - result["reconstruction_r"])
    loss = float(svd_loss(torch.tensor(frame, dtype=torch.float32)[None], torch.tensor(recon, dtype=torch.float32)[None], 4))
    assert result["difference_norm"] == pytest.approx(loss, rel=1e-4)
    assert result["frame_energy"][-1] == pytest.approx(1.0)
    assert 0 < result["frame_energy_at_r"] < 1
    fig = plots.spectrum_figure(result)
    assert len(fig.data) == 4 and len(fig.data[0].y) == 32
    assert len(plots.svd_figure(result).data) == 3
    with pytest.raises(ValueError, match="same shape"):
        explain.svd_explorer(frame, recon[:16], 4)


# ------------------------------------------------------------------------------------ heatmap
def test_error_heatmap_shape_and_blend():
    frame = np.full((40, 60, 3), 100, np.uint8)
    error_map = np.zeros((10, 15), np.float32)
    error_map[5, 7] = 1.0
    out = explain.error_heatmap(error_map, frame, alpha=0.5)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[20, 28], out[0, 0])  # the hot pixel is coloured differently
    np.testing.assert_array_equal(explain.error_heatmap(error_map, frame, alpha=0.0), frame)
    with pytest.raises(ValueError, match="alpha"):
        explain.error_heatmap(error_map, frame, alpha=2.0)


# ------------------------------------------------------------------------------------ Captum
FAST = {
    "integrated_gradients": {"n_steps": 4},
    "saliency": {},
    "occlusion": {"window": 32, "stride": 32},
    "gradient_shap": {"n_samples": 3},
}


@pytest.mark.parametrize("method", explain.METHODS)
@pytest.mark.parametrize("family", ["conv_ae", "ffp"])
def test_attribution_maps_have_the_frames_shape(family, method, request):
    loaded = request.getfixturevalue(family)
    frames = torch.from_numpy(np.random.default_rng(4).integers(0, 256, (7, 1, 64, 64), dtype=np.uint8))
    clip, target = explain.window_for_frame(loaded, frames, 5)
    attr = explain.attribute(loaded, clip, target, method, **FAST[method])
    t = loaded.model.config.window
    assert attr.maps.shape == (t, 64, 64) and attr.spatial.shape == (64, 64) and attr.per_frame.shape == (t,)
    assert np.all(np.isfinite(attr.maps)) and attr.maps.min() >= 0 and attr.maps.sum() > 0
    np.testing.assert_allclose(attr.spatial, attr.maps.sum(0), rtol=1e-5)
    np.testing.assert_allclose(attr.per_frame, attr.maps.reshape(t, -1).sum(1), rtol=1e-5)
    assert attr.method == method and attr.seconds > 0
    with torch.no_grad():
        assert attr.score == pytest.approx(float(loaded.model.anomaly_score(clip, target)[0]), rel=1e-5)


def test_saliency_equals_the_input_gradient(ffp):
    frames = torch.from_numpy(np.random.default_rng(5).integers(0, 256, (6, 1, 64, 64), dtype=np.uint8))
    clip, target = explain.window_for_frame(ffp, frames, 5)
    x = clip.clone().requires_grad_(True)
    ffp.model.anomaly_score(x, target).sum().backward()
    by_hand = x.grad[0].abs().sum(0).numpy()  # (T, H, W), channels abs-summed
    attr = explain.attribute(ffp, clip, target, "saliency")
    np.testing.assert_allclose(attr.maps, by_hand, rtol=1e-5, atol=1e-9)


def test_gradient_shap_is_reproducible_and_leaves_random_state_alone(conv_ae):
    frames = torch.from_numpy(np.random.default_rng(6).integers(0, 256, (5, 1, 64, 64), dtype=np.uint8))
    clip, target = explain.window_for_frame(conv_ae, frames, 4)
    np.random.seed(11)
    torch.manual_seed(11)
    a = explain.attribute(conv_ae, clip, target, "gradient_shap", n_samples=3, seed=1)
    b = explain.attribute(conv_ae, clip, target, "gradient_shap", n_samples=3, seed=1)
    np.testing.assert_array_equal(a.maps, b.maps)
    after = (np.random.rand(), float(torch.rand(1)))
    np.random.seed(11)
    torch.manual_seed(11)
    assert after == (np.random.rand(), float(torch.rand(1)))


def test_attribute_refuses_bad_requests(conv_ae):
    frames = indexed_frames(6)
    clip, target = explain.window_for_frame(conv_ae, frames, 5)
    with pytest.raises(ValueError, match="unknown attribution method"):
        explain.attribute(conv_ae, clip, target, "lime")
    with pytest.raises(ValueError, match="unknown parameter"):
        explain.attribute(conv_ae, clip, target, "saliency", n_steps=3)
    with pytest.raises(ValueError, match="positive integer"):
        explain.attribute(conv_ae, clip, target, "integrated_gradients", n_steps=0)
    with pytest.raises(ValueError, match="clip must be"):
        explain.attribute(conv_ae, clip[:, :, :2], target, "saliency")


def test_attribution_work_is_bounded(conv_ae):
    """50,000 integrated-gradient steps took 22.7 GB: refused at once, as are occlusions of one pixel."""
    frames = indexed_frames(6)
    clip, target = explain.window_for_frame(conv_ae, frames, 5)
    with pytest.raises(ValueError, match=r"n_steps must be at most 256, got 50000"):
        explain.attribute(conv_ae, clip, target, "integrated_gradients", n_steps=50_000)
    with pytest.raises(ValueError, match=r"n_samples must be at most 64"):
        explain.attribute(conv_ae, clip, target, "gradient_shap", n_samples=10_000)
    with pytest.raises(ValueError, match=r"occlusion: window 1 with stride 1 needs \d+ forward passes, over the limit"):
        explain.attribute(conv_ae, clip, target, "occlusion", window=1, stride=1)


def test_explain_frame_and_figure(conv_ae):
    frames = torch.from_numpy(np.random.default_rng(7).integers(0, 256, (8, 1, 64, 64), dtype=np.uint8))
    ex = explain.explain_frame(conv_ae, frames, 1, "integrated_gradients", n_steps=4, baseline="mean")
    assert (ex.window_start, ex.scored_frame) == (0, 3)  # clamped to the first full window
    assert ex.window_rgb.shape == (4, 64, 64, 3) and ex.target_rgb.shape == (64, 64, 3)
    np.testing.assert_array_equal(ex.target_rgb[..., 0], frames[3, 0].numpy())
    fig = plots.attribution_figure(ex.attribution, ex.window_rgb)
    images = [d for d in fig.data if d.type == "image"]
    assert len(images) == 5 and np.asarray(images[0].z).shape == (64, 64, 3)
    assert ex.attribution.params == {"n_steps": 4, "baseline": "mean"}
