"""The app served to others: hostile names never become markup (AppTest, no browser).

A clip's file name and a checkpoint's file name are chosen by whoever uploads or saves them; every
element Streamlit renders as HTML (`unsafe_allow_html`) must show them as text. Each test parses
the HTML the page sends and checks that the only tags in it are the page's own.
"""
from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from test_app import ROOT, app_samples, assert_clean, run_page, score_cache, write_mp4  # noqa: F401 - fixtures
from test_checkpoint import _resign
from vadlab import paths

HOSTILE_NAMES = [
    "<iframe srcdoc=&lt;script&gt;parent.alert(33)&lt;&#47;script&gt;>",
    "<meta http-equiv=refresh content=0;url=https:&#47;&#47;example.com>",
    "<img src=x onerror=alert(1)>",
    "<style>body{display:none}<&#47;style><form action=x><script>alert(2)<&#47;script>",
]


class _Tags(HTMLParser):
    """Every start tag of an HTML fragment, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text += data


def parse(fragment: str) -> _Tags:
    parser = _Tags()
    parser.feed(fragment)
    parser.close()
    return parser


def _zoo(monkeypatch, tmp_path, app_samples, names) -> Path:
    """A zoo of copies of the shipped conv_ae_synthetic checkpoint, one per name."""
    if not (ROOT / "checkpoints" / "conv_ae_synthetic.safetensors").exists():
        pytest.skip("no shipped conv_ae_synthetic checkpoint")
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    for name in names:
        for suffix in (".safetensors", ".json"):
            shutil.copyfile(ROOT / "checkpoints" / f"conv_ae_synthetic{suffix}", zoo / f"{name}{suffix}")
    monkeypatch.setenv(paths.SAMPLES_ENV, str(app_samples))
    monkeypatch.setenv(paths.CHECKPOINTS_ENV, str(zoo))
    monkeypatch.setenv(paths.USER_CHECKPOINTS_ENV, str(tmp_path / "user_checkpoints"))
    return zoo


@pytest.fixture
def hostile_zoo(monkeypatch, tmp_path, app_samples):  # noqa: F811 - pytest fixture
    """The zoo is one real checkpoint saved under a hostile file name."""
    name = "<img src=x onerror=alert(7)>"
    _zoo(monkeypatch, tmp_path, app_samples, [name])
    return name


@pytest.mark.parametrize("clip_name", HOSTILE_NAMES)
def test_presenter_mode_shows_hostile_clip_and_checkpoint_names_as_text(hostile_zoo, clip_name, tmp_path):
    clip = write_mp4(tmp_path / "walk.mp4")
    at = run_page("score")
    at.radio(key="score.source").set_value("Upload").run()
    at.file_uploader(key="score.upload").set_value((clip_name + ".mp4", clip.read_bytes(), "video/mp4")).run()
    at.toggle(key="score.presenter").set_value(True).run()
    assert_clean(at)
    html_elements = [m.value for m in at.markdown if m.proto.allow_html]
    headline = next(v for v in html_elements if 'id="vad-headline"' in v)
    parsed = parse(headline)
    assert {tag for tag, _ in parsed.tags} == {"div"}, parsed.tags
    assert all(set(attrs) <= {"class", "id", "style"} for _, attrs in parsed.tags), parsed.tags
    assert clip_name in parsed.text and hostile_zoo in parsed.text  # shown, as text
    for value in html_elements:  # no other HTML element carries either name
        assert clip_name not in value and hostile_zoo not in value
    player = at.get("iframe")[0].proto.srcdoc
    assert "<script" not in player.split("<script>", 1)[1].split("</script>", 1)[0]


@pytest.mark.parametrize("section", ["input", "metrics", "training"])
def test_a_checkpoint_with_a_list_for_an_object_is_one_invalid_row_not_a_page_failure(monkeypatch, tmp_path,
                                                                                      app_samples, section):  # noqa: F811
    zoo = _zoo(monkeypatch, tmp_path, app_samples, ["good", "bad"])
    _resign(zoo / "bad", lambda meta: meta.update({section: [1, 2]}))
    at = run_page("home")
    assert_clean(at)
    table = at.dataframe[0].value
    bad = table[table["checkpoint"] == "bad"].iloc[0]
    assert f"metadata field '{section}' must be an object" in bad["problem"]
    assert table[table["checkpoint"] == "good"].iloc[0]["problem"] == ""


def test_a_link_inside_a_data_root_to_a_file_outside_is_not_followed(monkeypatch, tmp_path):
    from vadlab.ui import cache

    root, outside = tmp_path / "datasets", tmp_path / "private"
    (root / "mine" / "training").mkdir(parents=True)
    outside.mkdir()
    write_mp4(root / "mine" / "training" / "walk.mp4", n_frames=4)
    write_mp4(outside / "secret.mp4", n_frames=4)
    shutil.copytree(root / "mine", root / "theirs")
    (root / "theirs" / "training" / "linked.mp4").symlink_to(outside / "secret.mp4")
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(root))
    assert [r.name for r in cache.dataset(f"folder:{root / 'mine'}").train] == ["walk"]
    with pytest.raises(paths.PathNotAllowedError, match=r"linked\.mp4: a link to a file outside the folders the app reads"):
        cache.dataset(f"folder:{root / 'theirs'}")


def test_markup_is_written_only_from_escaped_parts():
    """Every `unsafe_allow_html=True` in the app passes a constant of its own module or the presenter
    headline (whose parts `headline_html` escapes); st.html and components are not used at all: a new
    place that writes markup must be reviewed and added here."""
    import ast

    allowed = {"CHROME_CSS", "headline_html"}
    places = []
    for path in [*(ROOT / "vadlab" / "ui").glob("*.py"), *(ROOT / "app_pages").glob("*.py"), ROOT / "app.py"]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "html" and getattr(node.value, "id", "") == "st":
                places.append(f"{path.name}: st.html")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("streamlit.components"):
                places.append(f"{path.name}: streamlit.components")
            if not isinstance(node, ast.Call):
                continue
            if not any(k.arg == "unsafe_allow_html" and getattr(k.value, "value", False) is not False for k in node.keywords):
                continue
            argument = node.args[0] if node.args else None
            name = (argument.id if isinstance(argument, ast.Name) else
                    argument.func.id if isinstance(argument, ast.Call) and isinstance(argument.func, ast.Name) else None)
            if name not in allowed:
                places.append(f"{path.name}:{node.lineno}: {ast.unparse(argument) if argument else '?'}")
    assert not places, places
