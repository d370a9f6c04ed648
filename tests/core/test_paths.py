"""vadlab.paths: the repository's folders follow the environment; typed paths stay inside the roots."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from vadlab import paths
from vadlab.paths import PathNotAllowedError, confine

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_root_is_the_one_that_holds_the_package(monkeypatch):
    assert paths.REPO_ROOT == ROOT
    for name in (paths.CHECKPOINTS_ENV, paths.SAMPLES_ENV):
        monkeypatch.delenv(name, raising=False)
    assert paths.shipped_checkpoints_dir() == ROOT / "checkpoints"
    assert paths.sample_videos_dir() == ROOT / "sample_videos"
    assert paths.display_path(ROOT / "checkpoints" / "x") == "checkpoints/x"


def test_confine_accepts_paths_inside_the_roots_and_rejects_escapes(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "ped2" / "testing").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.mkdir()
    (data / "escape").symlink_to(secret)
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(data))

    assert confine("ped2") == (data / "ped2").resolve()  # relative to the data root
    assert confine(str(data / "ped2" / "testing")) == (data / "ped2" / "testing").resolve()
    for escape in ("../secret", str(secret), "ped2/../../secret", "escape", "/etc", "~"):
        with pytest.raises(PathNotAllowedError, match="outside the folders this lab may read"):
            confine(escape)
    with pytest.raises(PathNotAllowedError, match="no such file or folder"):
        confine("ped2/missing")
    with pytest.raises(PathNotAllowedError, match="no path given"):
        confine("  ")
    assert paths.data_roots() == (data.resolve(),)


def test_user_checkpoint_folder_and_data_roots_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.USER_CHECKPOINTS_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv(paths.DATA_ROOT_ENV, os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    roots = paths.roots()
    assert roots.user_checkpoints == (tmp_path / "mine").resolve()
    assert roots.data == ((tmp_path / "a").resolve(), (tmp_path / "b").resolve())
    monkeypatch.delenv(paths.USER_CHECKPOINTS_ENV)
    assert paths.user_checkpoints_dir() == ROOT / "checkpoints" / "user"


def test_user_data_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.USER_DATA_ENV, str(tmp_path / "mine"))
    assert paths.user_data_dir() == (tmp_path / "mine").resolve()
    monkeypatch.delenv(paths.USER_DATA_ENV)
    assert paths.user_data_dir() == ROOT / "user_data"
