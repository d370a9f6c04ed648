"""Calibrated verdicts on real footage, with the defaults a user gets (never a test).

    python bench/verdicts.py --checkpoint checkpoints/ffp_ped2_cpu          # the checkpoint's own verdict rule
    python bench/verdicts.py --checkpoint CK --far 0.0001 --pooling patch   # that rule, fields overridden

Scores every clip of UCSD Ped2 as H.264 videos (../shared/datasets/ped2_videos, as a user would
upload them) and judges each one on its own with `vadlab.calibration.assess`, exactly as
`vadlab score` does by default: the checkpoint's verdict rule (pooled score, false-alarm rate,
smoothing, minimum event length; chosen on normal footage and pseudo-anomalies when it was
calibrated, `vadlab.calibration.choose_rule`), each field overridable. Prints per clip and in total:
alert events on the 16 NORMAL training clips (a false-alarm count: every event there is false), the
test clips whose anomaly gets an overlapping alert event (event detection), the false-alarm rate on
the test frames labelled normal and the detection rate on the anomalous ones (frames a full window
scored; undecidable first frames left out). Neither the threshold nor the rule looks at test labels.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab import api  # noqa: E402
from vadlab.calibration import assess  # noqa: E402
from vadlab.protocol import pooling_key  # noqa: E402

DEFAULT_VIDEOS = ROOT.parent / "shared" / "datasets" / "ped2_videos"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--videos", default=str(DEFAULT_VIDEOS))
    p.add_argument("--far", type=float, default=None, help="default: the checkpoint's verdict rule")
    p.add_argument("--smooth", type=float, default=None, help="default: the checkpoint's verdict rule")
    p.add_argument("--min-length", type=int, default=None, help="default: the checkpoint's verdict rule")
    p.add_argument("--pooling", default=None, choices=["mean", "patch", "topk"], help="default: the checkpoint's verdict rule")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    root = Path(args.videos)
    if not (root / "training").is_dir():
        print(f"skip: Ped2 videos not found at {root}", file=sys.stderr)
        return 0
    loaded = api.load(args.checkpoint, device="cpu")
    if loaded.calibration is None:
        print(f"note: {args.checkpoint} has no calibration; verdicts fall back to per-video min-max", file=sys.stderr)
    rule = api.verdict_rule(loaded, far=args.far, smooth_sigma=args.smooth, min_length=args.min_length,
                            key=pooling_key(args.pooling) if args.pooling else None)
    print(f"{args.checkpoint}: verdict rule {rule.short}: {rule.describe()}")
    train_events, train_flagged, train_frames, rows = 0, 0, 0, []
    for video in sorted((root / "training").glob("*.mp4")):
        fs = api.score_video(loaded, video, keep_maps=False)
        v = assess(fs, loaded.calibration, rule=rule)
        train_events += len(v.events)
        train_flagged += v.n_flagged
        train_frames += len(fs)
        rows.append({"split": "training", "clip": video.stem, "events": len(v.events), "flagged": v.n_flagged,
                     "frames": len(fs), "max": float(v.values.max()), "threshold": v.threshold})
    labels = json.loads((root / "testing" / "labels.json").read_text())
    fa = nn = det = na = 0
    overlap_04 = False
    caught = []
    for video in sorted((root / "testing").glob("*.mp4")):
        truth = np.asarray(labels[video.stem], dtype=bool)
        fs = api.score_video(loaded, video, keep_maps=False)
        v = assess(fs, loaded.calibration, rule=rule)
        decided = np.asarray(fs.scored, dtype=bool)
        fa += int((v.flagged & ~truth & decided).sum())
        nn += int((~truth & decided).sum())
        det += int((v.flagged & truth & decided).sum())
        na += int((truth & decided).sum())
        overlap = any(truth[e.start:e.end + 1].any() for e in v.events)
        overlap_04 |= video.stem == "04" and overlap
        caught += [video.stem] if overlap else []
        rows.append({"split": "testing", "clip": video.stem, "events": len(v.events), "overlap": overlap,
                     "flagged": v.n_flagged, "frames": len(fs)})
    n_test = len(list((root / "testing").glob("*.mp4")))
    summary = {"checkpoint": args.checkpoint, "verdict_rule": rule.to_dict(), "train_events": train_events,
               "test_clips_caught": len(caught), "test_clips": n_test, "caught": caught, "train_flagged": train_flagged,
               "train_frames": train_frames, "test04_alert_overlaps_anomaly": overlap_04,
               "test_false_alarm_rate": fa / max(nn, 1), "test_normal_frames": nn,
               "test_detection_rate": det / max(na, 1), "test_anomalous_frames": na}
    for r in rows:
        print(json.dumps(r))
    print(f"16 normal training clips: {train_events} alert event(s), {train_flagged} of {train_frames} frames flagged")
    print(f"test clips with an alert overlapping their anomaly: {len(caught)} of {n_test} ({', '.join(caught) or 'none'})")
    print(f"test clip 04: {'an alert overlaps its anomaly' if overlap_04 else 'NO alert overlapping its anomaly'}")
    print(f"test frames: false-alarm rate {fa}/{nn} = {fa / max(nn, 1):.3f} on normal frames; "
          f"detection rate {det}/{na} = {det / max(na, 1):.3f} on anomalous frames")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
