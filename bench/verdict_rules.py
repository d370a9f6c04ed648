"""What verdict rules could reach on Ped2 with one checkpoint's scores: an ANALYSIS, never a choice.

    python bench/verdict_rules.py --checkpoint checkpoints/ffp_ped2_cpu
    python bench/verdict_rules.py --checkpoint checkpoints/ffp_ped2_cpu --cache runs/ffp_scores.pkl  # score once

Scores the 16 normal training clips and the 12 test clips (../shared/datasets/ped2_videos) once, then
judges them with a grid of rules: pooled score x smoothing x false-alarm rate x hysteresis (an event
starts where the calibrated score passes the rule's threshold for `min_length` frames and continues
while it stays above the looser threshold of false-alarm rate `hold`; "-" is no hysteresis). Per
rule: alert events on the normal training clips, test clips whose anomaly an event overlaps, the
detection rate on anomalous test frames and the false-alarm rate on normal test frames.

This reads TEST LABELS to show what each rule would give; it chooses nothing. A checkpoint's verdict
rule is chosen label-free by `vadlab.calibration.choose_rule` (normal footage and pseudo-anomalies).
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab import api  # noqa: E402
from vadlab.calibration import find_events, smooth_scores  # noqa: E402

DEFAULT_VIDEOS = ROOT.parent / "shared" / "datasets" / "ped2_videos"


def judge(fs, calibration, key: str, far: float, sigma: float, hold: float | None, min_length: int = 3):
    """Events and flagged frames of one clip under one rule (with hysteresis when `hold` is given)."""
    cal = calibration.for_key(key)
    values = cal.z(smooth_scores(fs.score_for(key), sigma))
    decided = np.asarray(fs.scored, dtype=bool)
    high = cal.threshold(far)
    low = cal.threshold(hold) if hold else high
    values = np.where(decided, values, min(values.min(), low) - 1.0)
    kept, flagged = [], values >= high
    for event in find_events(values, low, min_length=min_length, merge_gap=0):
        above, run, longest = values[event.start:event.end + 1] >= high, 0, 0
        for a in above:
            run = run + 1 if a else 0
            longest = max(longest, run)
        if longest >= min_length:  # it started: a run of min_length frames above the rule's threshold
            kept.append(event)
            flagged[event.start:event.end + 1] = True
    return kept, flagged & decided, decided


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--videos", default=str(DEFAULT_VIDEOS))
    p.add_argument("--cache", default=None, help="pickle of the scores: read when present, else written")
    args = p.parse_args(argv)
    root = Path(args.videos)
    if not (root / "testing" / "labels.json").is_file():
        print(f"skip: Ped2 videos not found at {root}", file=sys.stderr)
        return 0
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.is_file():
        stored = pickle.loads(cache.read_bytes())  # our own file, written below
        scores, calibration = stored["scores"], stored["calibration"]
    else:
        loaded = api.load(args.checkpoint, device="cpu")
        if loaded.calibration is None:
            raise SystemExit(f"{args.checkpoint} has no calibration: calibrated rules need one (vadlab calibrate)")
        calibration = loaded.calibration
        scores = {(split, v.stem): api.score_video(loaded, v, keep_maps=False)
                  for split in ("training", "testing") for v in sorted((root / split).glob("*.mp4"))}
        if cache is not None:
            cache.write_bytes(pickle.dumps({"scores": scores, "calibration": calibration}))
    labels = json.loads((root / "testing" / "labels.json").read_text())
    keys = [k for k in ("mean", "patch8", "patch16", "topk0.01") if k in calibration.scores]
    rows = []
    for key in keys:
        for sigma in (1.0, 3.0, 5.0):
            for far in (1e-3, 3e-3, 1e-2):
                for hold in (None, 0.03, 0.1, 0.3):
                    if hold is not None and hold <= far:
                        continue
                    normal_events = sum(len(judge(fs, calibration, key, far, sigma, hold)[0])
                                        for (split, _), fs in scores.items() if split == "training")
                    fa = nn = det = na = caught = 0
                    for (split, name), fs in scores.items():
                        if split != "testing":
                            continue
                        truth = np.asarray(labels[name], dtype=bool)
                        events, flagged, decided = judge(fs, calibration, key, far, sigma, hold)
                        fa += int((flagged & ~truth & decided).sum())
                        nn += int((~truth & decided).sum())
                        det += int((flagged & truth & decided).sum())
                        na += int((truth & decided).sum())
                        caught += any(truth[e.start:e.end + 1].any() for e in events)
                    rows.append((key, sigma, far, hold, normal_events, caught, det / max(na, 1), fa / max(nn, 1)))
    print(f"{args.checkpoint}: {len(rows)} rules on Ped2 (analysis with test labels; no rule is chosen here)")
    print("| score | smoothing σ | far | hold | events on 16 normal clips | test clips caught | detection | false alarms |")
    print("|---|---|---|---|---|---|---|---|")
    for key, sigma, far, hold, ev, caught, det, fa in sorted(rows, key=lambda r: (r[4] > 0, -r[5], -r[6])):
        print(f"| {key} | {sigma:g} | {far:g} | {hold if hold else '-'} | {ev} | {caught} of 12 | {det:.3f} | {fa:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
