"""Where vadlab's files live: the repository root, the shipped and user folders (checkpoints,
sample videos, user data, datasets), and the confinement of paths typed by users of the app.

The CLI, the notebook, `bench/` and the app all find the zoo and the data here. A served lab must
not become a way to read arbitrary files, so every folder a user types (a dataset folder, a
checkpoint folder) is resolved (symlinks and `..` followed) and must lie inside one of the
configured roots:

  * the repository's `sample_videos/` and `checkpoints/` (shipped demo data and models; other
    folders can be set with `VADLAB_SAMPLE_VIDEOS` and `VADLAB_CHECKPOINTS`);
  * the user checkpoint folder, `VADLAB_USER_CHECKPOINTS` (default `checkpoints/user/`), where the
    Train page saves models;
  * the user data folder, `VADLAB_USER_DATA` (default `user_data/`, git-ignored), where the Data page
    saves the datasets made in the browser (`folder:` layout, so `vadlab train --data folder:user_data/NAME`
    reads them too);
  * the data folder, `VADLAB_DATA_ROOT` (default `../shared/datasets` beside the repository when it
    exists). Several data roots can be given, separated by `os.pathsep` (':' on Linux).

Relative paths typed by the user are taken relative to the data root first, then the repository.
No Streamlit here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
USER_CHECKPOINTS_ENV = "VADLAB_USER_CHECKPOINTS"
USER_DATA_ENV = "VADLAB_USER_DATA"
DATA_ROOT_ENV = "VADLAB_DATA_ROOT"
SAMPLES_ENV = "VADLAB_SAMPLE_VIDEOS"
CHECKPOINTS_ENV = "VADLAB_CHECKPOINTS"


class PathNotAllowedError(ValueError):
    """A user-typed path outside the configured roots (or one that does not exist)."""


@dataclass(frozen=True)
class Roots:
    """The folders the app reads from (all resolved, absolute)."""

    samples: Path
    checkpoints: Path
    user_checkpoints: Path
    data: tuple[Path, ...]
    user_data: Optional[Path] = None

    @property
    def readable(self) -> tuple[Path, ...]:
        """Every root a typed path may fall under."""
        return (self.samples, self.checkpoints, self.user_checkpoints, *self.data,
                *((self.user_data,) if self.user_data is not None else ()))


def _env_path(name: str) -> Optional[Path]:
    configured = os.environ.get(name, "").strip()
    return Path(configured).expanduser().resolve() if configured else None


def sample_videos_dir() -> Path:
    """The sample videos: $VADLAB_SAMPLE_VIDEOS, else the shipped `sample_videos/`."""
    return _env_path(SAMPLES_ENV) or REPO_ROOT / "sample_videos"


def shipped_checkpoints_dir() -> Path:
    """The shipped checkpoints: $VADLAB_CHECKPOINTS, else `checkpoints/` in the repository."""
    return _env_path(CHECKPOINTS_ENV) or REPO_ROOT / "checkpoints"


def user_checkpoints_dir() -> Path:
    """Where the Train page saves checkpoints: $VADLAB_USER_CHECKPOINTS or `checkpoints/user/`."""
    return _env_path(USER_CHECKPOINTS_ENV) or (REPO_ROOT / "checkpoints" / "user")


def user_data_dir() -> Path:
    """Where the Data page keeps the user's datasets: $VADLAB_USER_DATA or `user_data/` in the
    repository (git-ignored). Not created here."""
    return _env_path(USER_DATA_ENV) or REPO_ROOT / "user_data"


def data_roots() -> tuple[Path, ...]:
    """Dataset roots: $VADLAB_DATA_ROOT (os.pathsep-separated), else `../shared/datasets` beside the
    repository when it exists, else none."""
    configured = os.environ.get(DATA_ROOT_ENV, "").strip()
    if configured:
        return tuple(Path(p).expanduser().resolve() for p in configured.split(os.pathsep) if p.strip())
    default = REPO_ROOT.parent / "shared" / "datasets"
    return (default.resolve(),) if default.is_dir() else ()


def roots() -> Roots:
    """The configured roots, read from the environment on every call (tests change it)."""
    return Roots(
        samples=sample_videos_dir().resolve(),
        checkpoints=shipped_checkpoints_dir().resolve(),
        user_checkpoints=user_checkpoints_dir().resolve(),
        data=data_roots(),
        user_data=user_data_dir().resolve(),
    )


def inside(path: Path, root: Path) -> bool:
    """Whether the (resolved) `path` is `root` or lies below it."""
    return path == root or root in path.parents


def confine(text: str | os.PathLike, allowed: Optional[Sequence[Path]] = None, must_exist: bool = True) -> Path:
    """Resolve a path typed by a user and check that it lies inside an allowed root.

    text: absolute, or relative to the first data root, then the repository root.
    allowed: the roots (default: `roots().readable`). Returns the resolved absolute path.
    Raises PathNotAllowedError naming the allowed roots when the path resolves outside all of them
    (`..`, symlinks and absolute paths included), and when `must_exist` and nothing is there.
    """
    raw = str(text).strip()
    if not raw:
        raise PathNotAllowedError("no path given; type a folder inside one of the allowed roots")
    if "\x00" in raw:
        raise PathNotAllowedError("the path contains a NUL character")
    allowed_roots = tuple(Path(r).resolve() for r in (allowed if allowed is not None else roots().readable))
    candidate = Path(raw).expanduser()
    if candidate.is_absolute():
        candidates = [candidate]
    else:
        bases = [*(r for r in data_roots()), REPO_ROOT]
        candidates = [base / candidate for base in bases]
    resolved_candidates = [c.resolve() for c in candidates]
    for resolved in resolved_candidates:
        if any(inside(resolved, root) for root in allowed_roots) and (resolved.exists() or not must_exist):
            return resolved
    within = [r for r in resolved_candidates if any(inside(r, root) for root in allowed_roots)]
    listing = ", ".join(str(r) for r in allowed_roots) or "(none configured)"
    if within:
        raise PathNotAllowedError(f"{raw}: no such file or folder (looked at {within[0]})")
    raise PathNotAllowedError(
        f"{raw}: outside the folders this lab may read. Allowed roots: {listing}. "
        f"Set {DATA_ROOT_ENV} to add a data folder."
    )


def confine_links(path: Path, allowed: Sequence[Path]) -> None:
    """Refuse `path`, or a linked entry of the folder `path`, that resolves outside the roots
    `allowed` (PathNotAllowedError naming the link): a link inside an allowed folder is no way out."""
    links = [path] + ([e for e in path.iterdir() if e.is_symlink()] if path.is_dir() else [])
    for link in links:
        resolved = link.resolve()
        if not any(inside(resolved, root) for root in allowed):
            raise PathNotAllowedError(f"{link.name}: a link to a file outside the folders the app reads "
                                      f"({', '.join(display_path(r) for r in allowed)}); it is not followed")


def display_path(path: str | os.PathLike) -> str:
    """A path shown to users: relative to the repository when inside it, else absolute."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO_ROOT))
    except ValueError:
        return str(p)
