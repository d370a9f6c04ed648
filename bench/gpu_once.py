"""One prepared GPU run: train the presets that fit a time budget, evaluate them, write checkpoints and
a table to one folder (never a test; its logic is tested on the CPU at a tiny scale).

    python bench/gpu_once.py --out $OUT --data folder:.data/ped2_videos --budget-minutes 8 --device cuda
    python bench/gpu_once.py --out /tmp/o --data synthetic:sample_videos --preset tiny --device cpu \\
        --families conv_ae --budget-minutes 1          # the CPU rehearsal (tests/core/test_gpu_once.py)
    python bench/gpu_once.py --unpack /work/.device/.../files --into checkpoints/gpu   # here, afterwards

The budget covers everything from the moment this script starts: data preparation (decoding once per
family at its resolution), training, calibration, evaluation and writing. Families run in the given
order (most promising first), each in a slot of an equal share of what is left. Inside its slot a
family trains for its preset's epochs or until its allowance runs out (`TrainConfig.max_seconds`,
checked between steps; the epoch it cuts still ends with validation and model selection), where the
allowance is the slot less what a family was seen to need beyond training (data, calibration,
evaluation, saving: the largest so far x 1.25; before the first family, --eval-reserve of the slot).
A family still training half a slot past its slot, or so late that its evaluation could not end
before the budget (less half the final reserve), is cancelled between two steps (its row says so;
nothing else is lost).

Outputs, shaped for what comes back from the device machine ($OUT: at most 8 files, each at most
16 MiB, 64 MiB in all, at most two folders down): OUT/table.md, OUT/table.json and OUT/log.txt,
rewritten as soon as each family has its result; each family's checkpoint in float16 when its
float32 weights would pass 16 MiB, written to OUT/held/checkpoints/all/ (three folders down: never
sent back by itself), then packed as OUT/<family>_<preset>.ckpt.tar (weights + metadata), split
into .partNN pieces under 16 MiB when larger, for as many families (in order) as the 8-file and
64 MiB limits allow; the others stay held and the table says so. `--unpack` joins and extracts them.
"""
from __future__ import annotations

import time

T_START = time.time()  # the budget counts from here: imports of torch and vadlab included

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlab import api  # noqa: E402
from vadlab import device as devices  # noqa: E402
from vadlab.registry import get_spec  # noqa: E402
from vadlab.train import TrainConfig, TrainingCancelled  # noqa: E402

DEFAULT_FAMILIES = "ffp,valt_gan,conv_ae,svd_gan,st_dcgan,latent_gan"
MiB = 2**20
MAX_BYTES = 16 * MiB  # one file back from the device machine
RETURN_FILES = 8  # files back from $OUT
RETURN_BYTES = 64 * MiB  # bytes back from $OUT, all files together
RESULT_FILES = ("table.md", "table.json", "log.txt")
HELD = Path("held") / "checkpoints" / "all"  # three folders down: not sent back


def param_bytes(family: str, preset: str) -> int:
    from vadlab.registry import create_model

    return sum(t.numel() * t.element_size() for t in create_model(family, preset).state_dict().values())


@dataclass(frozen=True)
class Slot:
    """The time plan of one family (seconds)."""

    share: float  # its slot: an equal share of what is left
    allowance: float  # training seconds (TrainConfig.max_seconds)
    reserve: float  # what it is expected to need beyond training
    brake_after: float  # from the family's start: past this, cancel between steps


def plan_slot(left: float, families_left: int, beyond_seen: list[float], first_reserve: float, grace: float) -> Slot:
    """The slot of the next family, from the seconds `left` for `families_left` families (itself
    included), what earlier families needed beyond training (`beyond_seen`) and the first guess
    (`first_reserve`, a share of the slot). The brake: half a slot past the slot, or the last moment
    from which the family's reserve still ends inside `left` + `grace` (part of the final reserve,
    so that a family that stops at its allowance as it should is never cancelled for it)."""
    share = left / max(1, families_left)
    reserve = max(beyond_seen) * 1.25 if beyond_seen else first_reserve * share
    reserve = min(reserve, 0.9 * share)
    allowance = share - reserve
    brake_after = min(1.5 * share, left + grace) - reserve
    return Slot(share=share, allowance=allowance, reserve=reserve, brake_after=max(allowance, brake_after))


def split_file(path: Path, max_bytes: int) -> list[Path]:
    """`path` as itself when it fits, else as path.partNN pieces of at most `max_bytes` (removed
    whole). `unpack` joins them."""
    size = path.stat().st_size
    if size <= max_bytes:
        return [path]
    parts = []
    with open(path, "rb") as f:
        for i in range((size + max_bytes - 1) // max_bytes):
            part = path.with_name(f"{path.name}.part{i:02d}")
            part.write_bytes(f.read(max_bytes))
            parts.append(part)
    path.unlink()
    return parts


def pack_checkpoint(held_dir: Path, stem: str, out: Path, max_bytes: int) -> list[Path]:
    """HELD/<stem>.safetensors + .json -> OUT/<stem>.ckpt.tar (uncompressed: float16 weights do not
    compress), split into pieces of at most `max_bytes`. Returns the files written."""
    tar_path = out / f"{stem}.ckpt.tar"
    with tarfile.open(tar_path, "w") as tar:
        for suffix in (".json", ".safetensors"):
            tar.add(held_dir / f"{stem}{suffix}", arcname=f"{stem}{suffix}")
    return split_file(tar_path, max_bytes)


def choose_returned(result_bytes: int, packs: list[tuple[str, list[int]]], files: int = RETURN_FILES,
                    total: int = RETURN_BYTES) -> list[str]:
    """Which families' packs go back: in order, each whole (all its pieces) while the files and bytes
    still fit beside the result files (`result_bytes`, len(RESULT_FILES) files, 1 MiB kept for them to
    grow). packs: (stem, piece sizes) per family."""
    chosen, n_files, n_bytes = [], len(RESULT_FILES), result_bytes + MiB
    for stem, sizes in packs:
        if n_files + len(sizes) <= files and n_bytes + sum(sizes) <= total:
            chosen.append(stem)
            n_files += len(sizes)
            n_bytes += sum(sizes)
    return chosen


def place_packs(out: Path, stems: list[str], max_bytes: int, files: int = RETURN_FILES, total: int = RETURN_BYTES) -> dict:
    """Pack each finished family's checkpoint once (under OUT/held), and link the packs that fit the
    return limits, in family order, to the top of OUT (copies). Returns {stem: "returned" | "held"}."""
    held_dir = out / HELD
    packs = []
    for stem in stems:
        pieces = sorted(held_dir.glob(f"{stem}.ckpt.tar*")) or pack_checkpoint(held_dir, stem, held_dir, max_bytes)
        packs.append((stem, pieces))
    result_bytes = sum((out / name).stat().st_size for name in RESULT_FILES if (out / name).exists())
    chosen = set(choose_returned(result_bytes, [(s, [p.stat().st_size for p in pieces]) for s, pieces in packs],
                                 files, total))
    status = {}
    for stem, pieces in packs:
        for piece in pieces:
            top = out / piece.name
            if stem in chosen and not top.exists():
                shutil.copyfile(piece, top)  # a plain file (links do not come back)
            elif stem not in chosen:
                top.unlink(missing_ok=True)
        status[stem] = "returned" if stem in chosen else "held"
    return status


def unpack(folder: Path, into: Path) -> list[Path]:
    """Join (in memory: the returned folder is read-only) and extract every <stem>.ckpt.tar[.partNN]
    of `folder` into `into`, a checkpoint pair (<stem>.safetensors + <stem>.json) each."""
    into.mkdir(parents=True, exist_ok=True)
    restored = []
    for first in sorted(set(folder.glob("*.ckpt.tar")) | set(folder.glob("*.ckpt.tar.part00"))):
        if first.name.endswith(".part00"):
            stem = first.name[: -len(".part00")]
            data = b"".join(p.read_bytes() for p in sorted(folder.glob(stem + ".part[0-9][0-9]")))
        else:
            data = first.read_bytes()
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                if not member.isfile() or "/" in member.name or member.name.startswith("."):
                    raise ValueError(f"{first}: unexpected member {member.name!r}")
                (into / member.name).write_bytes(tar.extractfile(member).read())
                restored.append(into / member.name)
    return restored


def write_tables(out: Path, rows: list[dict], data: str, where: str, elapsed: float, budget_s: float) -> str:
    """table.json (rows) and table.md, written after every family."""
    (out / "table.json").write_text(json.dumps(rows, indent=2))
    lines = ["| family | preset | micro AUC | macro AUC | EER | epochs (recipe) | stopped by budget | train min | "
             "slot s | wall s | MB | checkpoint |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['family']} | {r['preset']} | {r['error']} | | | | | | {r.get('slot_s', '')} | "
                         f"{r.get('wall_s', '')} | | |")
            continue
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        lines.append(f"| {r['family']} | {r['preset']} | {fmt(r['micro_auc'])} | {fmt(r['macro_auc'])} | {fmt(r['eer'])} | "
                     f"{r['epochs_run']} ({r['epochs_recipe']}) | {r['stopped_by_budget']} | {r['train_minutes']} | "
                     f"{r['slot_s']} | {r['wall_s']} | {r['size_mb']} | {r.get('checkpoint', '')} |")
    protocol = next((r.get("protocol") for r in rows if r.get("protocol")), "frame-mean|minmax|s0|drop|micro")
    text = (f"{data} on {where}; protocol {protocol}; {elapsed:.0f} s of a {budget_s:.0f} s budget\n\n"
            + "\n".join(lines) + "\n")
    (out / "table.md").write_text(text)
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out")
    p.add_argument("--data", help="a dataset spec with normal training and labelled test videos")
    p.add_argument("--families", default=DEFAULT_FAMILIES)
    p.add_argument("--preset", default="paper")
    p.add_argument("--device", default="auto")
    p.add_argument("--budget-minutes", type=float, default=8.0)
    p.add_argument("--eval-reserve", type=float, default=0.3,
                   help="before the first family is done: share of a slot kept for data, evaluation and saving")
    p.add_argument("--final-reserve", type=float, default=10.0, help="seconds kept for the last tables and packing")
    p.add_argument("--min-train", type=float, default=10.0, help="seconds: a family with a shorter allowance is not started")
    p.add_argument("--file-limit-mib", type=float, default=16.0, help="largest file sent back (the device tool's limit)")
    p.add_argument("--unpack", default=None, help="a folder of returned .ckpt.tar[.partNN] files: restore the checkpoints")
    p.add_argument("--into", default="checkpoints/gpu", help="with --unpack: where the checkpoints go")
    args = p.parse_args(argv)
    if args.unpack:
        for path in unpack(Path(args.unpack), Path(args.into)):
            print(path)
        return 0
    if not args.out or not args.data:
        p.error("--out and --data are required (or --unpack)")
    max_bytes = int(args.file_limit_mib * MiB)
    out = Path(args.out)
    (out / HELD).mkdir(parents=True, exist_ok=True)
    log = open(out / "log.txt", "a")

    def elapsed() -> float:
        return time.time() - T_START

    def say(msg: str) -> None:
        line = f"[{elapsed():6.1f}s] {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    dev = devices.resolve(args.device)
    where = devices.describe(dev)
    budget_s = args.budget_minutes * 60
    say(f"device {where}; budget {args.budget_minutes} min (from the script's start); data {args.data}")
    runnable = []
    for name in [f.strip() for f in args.families.split(",") if f.strip()]:
        spec = get_spec(name)
        if spec.supervised:
            say(f"{name}: supervised, its honest figure is `vadlab cv`; skipped")
            continue
        if args.preset not in spec.presets:
            say(f"{name}: no preset {args.preset}; skipped")
            continue
        runnable.append(name)
    rows: list[dict] = []
    beyond_seen: list[float] = []
    finished: list[str] = []
    for i, name in enumerate(runnable):
        to_end = budget_s - args.final_reserve - elapsed()
        slot = plan_slot(to_end, len(runnable) - i, beyond_seen, args.eval_reserve, grace=args.final_reserve / 2)
        if slot.allowance < args.min_train:
            say(f"{name}: {to_end:.0f} s left for {len(runnable) - i} families, an allowance of {slot.allowance:.0f} s; stopping")
            break
        stem = f"{name}_{args.preset}"
        half = param_bytes(name, args.preset) > max_bytes
        t_family = time.time()
        say(f"{name}: slot {slot.share:.0f} s, training at most {slot.allowance:.0f} s ({args.preset})"
            + (" (float16 weights)" if half else ""))
        row = {"family": name, "preset": args.preset, "slot_s": round(slot.share, 1)}
        try:
            loaded, result = api.train(
                name, args.data, out / HELD / stem, preset=args.preset, device=str(dev),
                train_config=TrainConfig(max_seconds=slot.allowance), half=half,
                should_stop=lambda: time.time() - t_family > slot.brake_after,
                command=f"python bench/gpu_once.py --families {name} --preset {args.preset}")
            wall = time.time() - t_family
            beyond_seen.append(wall - (slot.allowance if result.stopped_early else result.seconds))
            m = loaded.metadata.get("metrics") or {}
            row.update({"epochs_run": len(result.history), "epochs_recipe": loaded.model.config.epochs,
                        "stopped_by_budget": result.stopped_early, "train_minutes": round(result.seconds / 60, 2),
                        "wall_s": round(wall, 1), "micro_auc": m.get("micro_auc"), "macro_auc": m.get("macro_auc"),
                        "eer": m.get("eer"), "protocol": (m.get("protocol") or {}).get("short"),
                        "size_mb": round((out / HELD / f"{stem}.safetensors").stat().st_size / MiB, 2)})
            finished.append(stem)
        except TrainingCancelled:
            row.update({"error": f"cancelled: still training {slot.brake_after:.0f} s into a {slot.share:.0f} s slot",
                        "wall_s": round(time.time() - t_family, 1)})
        except Exception as exc:  # keep going: the table says what failed
            row.update({"error": f"{type(exc).__name__}: {exc}", "wall_s": round(time.time() - t_family, 1)})
        rows.append(row)
        say(json.dumps(row))
        write_tables(out, rows, args.data, where, elapsed(), budget_s)
        status = place_packs(out, finished, max_bytes)
        for r in rows:
            if r.get("family") and f"{r['family']}_{r['preset']}" in status:
                r["checkpoint"] = status[f"{r['family']}_{r['preset']}"]
        write_tables(out, rows, args.data, where, elapsed(), budget_s)
    text = write_tables(out, rows, args.data, where, elapsed(), budget_s)
    say("done\n" + text)
    log.close()
    return 0 if rows and all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
