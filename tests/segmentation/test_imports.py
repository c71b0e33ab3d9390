"""segmentation/ is a plain OpenCV and NumPy library: the worker hands it the recogniser as a
callback, so importing it must not pull in a framework."""

from __future__ import annotations

import subprocess
import sys

FRAMEWORKS = ("tensorflow", "keras", "flask", "celery", "sqlalchemy", "redis")


def test_the_library_imports_no_framework() -> None:
    code = ("import sys, pkgutil, importlib, segmentation\n"
            "for m in pkgutil.iter_modules(segmentation.__path__):\n"
            "    importlib.import_module('segmentation.' + m.name)\n"
            f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({FRAMEWORKS!r})))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
