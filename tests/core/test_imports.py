"""A cold server's sessions import the app's modules at the same moment without failing (issue 22):
`vadlab.imports.import_app_modules` imports them once, one thread at a time, and app.py calls it first."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Eight "sessions" start at once in a fresh interpreter, as on a cold server: each runs the app's
# prelude and then imports a different module, as its page would.
SESSIONS = r"""
import importlib, json, threading
from vadlab.imports import app_modules, import_app_modules

modules = app_modules()
barrier = threading.Barrier(8)
errors = []

def session(k):
    barrier.wait()
    try:
        import_app_modules()
        from vadlab import ui
        ui.paths, ui.training
        importlib.import_module(modules[(k * 7) % len(modules)])
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=session, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(errors))
"""


def test_eight_sessions_of_a_cold_server_import_the_app_at_once_without_failing():
    done = subprocess.run([sys.executable, "-c", SESSIONS], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_app_py_imports_the_app_modules_before_the_toolkit():
    tree = ast.parse((ROOT / "app.py").read_text())
    order = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vadlab"):
            order.append(("import", node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                getattr(node.value.func, "id", None) == "import_app_modules":
            order.append(("call", "import_app_modules", []))
    assert order[0] == ("import", "vadlab.imports", ["import_app_modules"]), order
    assert order[1] == ("call", "import_app_modules", []), order
    assert ("import", "vadlab", ["ui"]) in order[2:], order


def test_every_vadlab_module_is_in_the_list_and_the_cli_entry_point_is_not():
    modules = __import__("vadlab.imports", fromlist=["app_modules"]).app_modules()
    assert "vadlab.ui" in modules and "vadlab.api" in modules and "vadlab.models.ffp" in modules
    assert "vadlab.__main__" not in modules
