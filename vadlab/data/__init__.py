"""Data: video decoding, datasets with frame-level ground truth, windowing, synthetic videos."""
