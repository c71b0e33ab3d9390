"""The client runs anywhere Python does: the standard library only, nothing else of the project."""

from __future__ import annotations

import subprocess
import sys

from core.settings import PROJECT_ROOT

OTHER_PACKAGES = ("core", "web", "worker", "segmentation", "reading", "models", "synth", "evaluation")
LOADED = "import sys, client.__main__; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"


def test_the_client_imports_only_the_standard_library() -> None:
    # -S: without site-packages, any third-party import fails
    run = subprocess.run([sys.executable, "-S", "-c", LOADED], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert not set(run.stdout.split()) & set(OTHER_PACKAGES), run.stdout
