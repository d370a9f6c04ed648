"""ROI masks: rasterisation, text form, mask images and error-map masking."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vadlab.roi import ROIError, apply_roi_to_error_maps, format_roi, parse_roi, rect, roi_from_mask_image, roi_mask

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def test_empty_roi_is_the_whole_frame():
    mask = roi_mask((), 6, 9)
    assert mask.shape == (6, 9) and mask.dtype == bool and mask.all()


def test_rectangles_cover_the_right_pixels_and_tile_without_overlap():
    left = roi_mask((rect(0, 0, 0.5, 1),), 8, 10)
    right = roi_mask((rect(0.5, 0, 1, 1),), 8, 10)
    assert left[:, :5].all() and not left[:, 5:].any()
    assert not (left & right).any() and (left | right).all()
    quarter = roi_mask((rect(0.25, 0.25, 0.75, 0.75),), 16, 16)
    assert quarter.sum() == 64 and quarter[4:12, 4:12].all()


def test_polygon_uses_pixel_centres_and_union_of_polygons():
    triangle = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))  # the upper-left half
    mask = roi_mask((triangle,), 10, 10)
    rows, cols = np.indices((10, 10))
    off_edge = rows + cols != 9  # centres exactly on the hypotenuse are a tie; check the others
    np.testing.assert_array_equal(mask[off_edge], (rows + cols < 9)[off_edge])
    both = roi_mask((triangle, rect(0.8, 0.8, 1, 1)), 10, 10)
    assert both[9, 9] and not mask[9, 9] and (both | mask).sum() == mask.sum() + 4


def test_parse_roi_rect_and_poly_and_round_trip():
    roi = parse_roi("rect:0.1,0.2,0.5,0.9; poly:0.1,0.1,0.9,0.1,0.5,0.8")
    assert roi == (((0.1, 0.2), (0.5, 0.2), (0.5, 0.9), (0.1, 0.9)), ((0.1, 0.1), (0.9, 0.1), (0.5, 0.8)))
    assert parse_roi(format_roi(roi)) == roi
    assert parse_roi("") == () and parse_roi("  ") == () and parse_roi("full") == ()
    assert parse_roi("rect:0.5,0.9,0.1,0.2") == parse_roi("rect:0.1,0.2,0.5,0.9")  # corners in any order


@pytest.mark.parametrize(
    "text, message",
    [
        ("circle:0.5,0.5,0.1", "expected 'rect"),
        ("rect:0.1,0.2,0.5", "4 numbers"),
        ("poly:0.1,0.1,0.9,0.1", "even number"),
        ("rect:0.1,0.2,0.5,x", "numbers"),
        ("rect:0.1,0.2,1.5,0.9", "outside \\[0, 1\\]"),
    ],
)
def test_parse_roi_rejects_bad_text_with_a_clear_message(text, message):
    with pytest.raises(ROIError, match=message):
        parse_roi(text)


def test_mask_image_file_is_read_and_resized(tmp_path):
    image = np.zeros((40, 60), dtype=np.uint8)
    image[:, 30:] = 255  # right half inside
    path = tmp_path / "roi.png"
    Image.fromarray(image).save(path)
    mask = roi_from_mask_image(path, 8, 12)
    assert mask.shape == (8, 12) and mask[:, 6:].all() and not mask[:, :6].any()
    same = roi_from_mask_image(np.stack([image] * 3, axis=2), 40, 60)  # (H, W, C) array
    np.testing.assert_array_equal(same, image > 127)
    np.testing.assert_array_equal(roi_from_mask_image(image > 0, 40, 60), image > 0)
    np.testing.assert_array_equal(roi_from_mask_image(image / 255.0, 40, 60), image > 127)


def test_mask_image_errors(tmp_path):
    with pytest.raises(ROIError, match="not found"):
        roi_from_mask_image(tmp_path / "missing.png", 8, 8)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ROIError, match="cannot read"):
        roi_from_mask_image(tmp_path / "bad.png", 8, 8)
    with pytest.raises(ROIError, match="empty"):
        roi_from_mask_image(np.zeros((8, 8), dtype=np.uint8), 8, 8)


def test_apply_roi_to_error_maps_numpy_and_torch():
    mask = roi_mask((rect(0, 0, 0.5, 1),), 4, 6)
    maps = np.random.default_rng(0).random((3, 4, 6)).astype(np.float16) + 0.1
    out = apply_roi_to_error_maps(maps, mask)
    assert out.dtype == np.float16 and (out[..., 3:] == 0).all()
    np.testing.assert_array_equal(out[..., :3], maps[..., :3])
    t = torch.from_numpy(maps.astype(np.float32))
    out_t = apply_roi_to_error_maps(t, mask)
    assert isinstance(out_t, torch.Tensor) and torch.equal(out_t, torch.from_numpy(out.astype(np.float32)))
    with pytest.raises(ROIError, match="roi_mask\\(polygons, 5, 6\\)"):
        apply_roi_to_error_maps(np.zeros((2, 5, 6)), mask)


def test_real_ped2_pixel_mask_reads_as_roi():
    mask_dir = DATASETS / "ped2" / "testing" / "masks" / "01"
    if not mask_dir.is_dir():
        pytest.skip(f"Ped2 pixel masks not found at {mask_dir} (see shared/datasets/README.md)")
    png = mask_dir / "100.png"  # frame 101 of test clip 01 is anomalous (gt 61:180)
    mask = roi_from_mask_image(png, 120, 180)
    with Image.open(png) as im:
        full = np.asarray(im.convert("L")) > 127
    assert mask.shape == (120, 180) and 0 < mask.sum() < mask.size
    assert abs(mask.mean() - full.mean()) < 0.01  # nearest resize keeps the anomalous area fraction
