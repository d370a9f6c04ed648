"""vadlab.zoo: the checkpoints of given folders (one bad file is one invalid row), how well each
fits a clip and why the first was chosen, the zoo table, starting points and the lightest per family."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from vadlab.registry import list_models
from vadlab.zoo import (CheckpointEntry, best_checkpoints, init_candidates, lightest_checkpoints, list_checkpoints,
                        rank_checkpoints, usable_checkpoints, zoo_rows)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "checkpoints"


def test_checkpoints_are_ranked_by_how_well_they_fit_a_clip(tmp_path):
    """Same dataset first, then data whose frames have the clip's size (the same camera), then the
    rest; calibrated and better-scoring first within each."""
    samples = ROOT / "sample_videos"
    entries = [
        CheckpointEntry(path="a/ped2_model", name="ped2_model", origin="shipped", training_data="ped2:../shared/datasets/ped2",
                        trained_on="ped2:ped2", auc=0.86, calibrated=True),
        CheckpointEntry(path="a/weak_synthetic", name="weak_synthetic", origin="shipped", training_data="synthetic:sample_videos",
                        trained_on="synthetic:sample_videos", auc=0.70, calibrated=True),
        CheckpointEntry(path="a/best_synthetic", name="best_synthetic", origin="shipped", training_data="synthetic:sample_videos",
                        trained_on="synthetic:sample_videos", auc=0.97, calibrated=True),
        CheckpointEntry(path="a/uncalibrated", name="uncalibrated", origin="shipped", training_data="synthetic:sample_videos",
                        trained_on="synthetic:sample_videos", auc=0.99, calibrated=False),
    ]
    ranked = rank_checkpoints(entries, dataset=f"synthetic:{samples}", clip_path=str(samples / "testing" / "test_01.mp4"))
    assert [m.entry.name for m in ranked] == ["best_synthetic", "weak_synthetic", "uncalibrated", "ped2_model"]
    assert [m.tier for m in ranked] == [0, 0, 0, 2]
    # an upload of the sample camera's size: the sample models, by the size of their frames
    ranked = rank_checkpoints(entries, frame_size=(160, 120))
    assert ranked[0].entry.name == "best_synthetic" and ranked[0].tier == 1 and "160×120" in ranked[0].reason
    # a clip nobody trained on: the best-scoring one, and the page says so
    ranked = rank_checkpoints(entries, frame_size=(999, 777))
    assert ranked[0].entry.name == "best_synthetic" and ranked[0].tier == 2
    # and on a CPU, a checkpoint too slow to score there comes after the others of its tier
    slow = CheckpointEntry(path="a/slow", name="slow", origin="shipped", training_data="synthetic:sample_videos",
                           trained_on="synthetic:sample_videos", auc=0.999, calibrated=True, cpu_fps=1.0)
    assert rank_checkpoints([slow, *entries], dataset=f"synthetic:{samples}")[0].entry.name == "best_synthetic"
    assert rank_checkpoints([slow, *entries], dataset=f"synthetic:{samples}", on_gpu=True)[0].entry.name == "slow"


def test_best_checkpoints_says_why_the_first_was_chosen():
    entries = usable_checkpoints([(SHIPPED, "shipped")])
    best, why = best_checkpoints(entries, f"synthetic:{ROOT / 'sample_videos'}", count=2, subject="this dataset")
    assert len(best) == 2 and all(e.trained_on == "synthetic:sample_videos" for e in best)
    assert why.startswith(f"**{best[0].name}**: trained on this dataset") and "micro AUC" in why
    assert best_checkpoints([], "synthetic:x") == ([], "")
    # nothing trained on the clip's data: frame sizes are compared, asked for only then
    asked = []
    best, why = best_checkpoints(entries, None, str(ROOT / "README.md"),
                                 subject_frame_size=lambda: asked.append(1) or (999, 777))
    assert asked == [1] and "no model was trained on this clip's data or scene" in why


def test_the_shipped_folder_lists_every_checkpoint_with_its_summary():
    entries = list_checkpoints([(SHIPPED, "shipped"), (SHIPPED, "again")])  # one folder is read once
    names = sorted(p.stem for p in SHIPPED.glob("*.safetensors"))
    assert [e.name for e in entries] == names and {e.origin for e in entries} == {"shipped"}
    conv = next(e for e in entries if e.name == "conv_ae_synthetic")
    assert conv.family == "conv_ae" and conv.calibrated and conv.auc is not None and conv.error is None
    assert conv.label.startswith("conv_ae_synthetic · AUC ") and "calibrated" in conv.description
    rows, datasets = zoo_rows(entries)
    assert len(rows) == len(entries) and "synthetic" in datasets and "problem" not in rows[0]


def test_a_name_met_twice_is_told_apart_by_its_origin(tmp_path):
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(SHIPPED / f"conv_ae_synthetic{suffix}", tmp_path / f"conv_ae_synthetic{suffix}")
    entries = list_checkpoints([(SHIPPED, "shipped"), (tmp_path, "yours")])
    assert entries[-1].name == "conv_ae_synthetic (yours)" and entries[-1].origin == "yours"


def test_runs_start_from_checkpoints_of_the_same_family_and_preset():
    meta = json.loads((SHIPPED / "conv_ae_synthetic.json").read_text())
    preset = meta["training"]["preset"]
    rows = init_candidates("conv_ae", preset, [(SHIPPED, "shipped"), (SHIPPED / "missing", "yours")])
    assert "conv_ae_synthetic" in [r["name"] for r in rows]
    assert all(json.loads(Path(r["path"] + ".json").read_text())["model"] == "conv_ae" for r in rows)
    assert next(r for r in rows if r["name"] == "conv_ae_synthetic")["data"] == "synthetic:sample_videos"
    assert init_candidates("conv_ae", "no-such-preset", [(SHIPPED, "shipped")]) == []


def test_the_lightest_checkpoint_of_every_family():
    found = lightest_checkpoints(SHIPPED, list_models())
    assert set(found) == set(list_models())
    for family, stem in found.items():
        assert stem.name == f"{family}_synthetic"  # the tiny shipped ones
