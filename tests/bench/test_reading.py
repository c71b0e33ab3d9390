"""`python -m bench.reading`: a page's reading time against an earlier commit, on one machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.settings import PROJECT_ROOT


def test_both_versions_read_the_same_pages_and_the_worktree_goes(tmp_path: Path, mnist_dir) -> None:  # type: ignore[no-untyped-def]
    """Against HEAD (a worktree of it), one page of each style, one reading: each style timed
    by both versions, the ratio theirs, the report written, no worktree left behind."""
    from bench import reading

    output = tmp_path / "bench_reading.json"
    report = reading.main(["--against", "HEAD", "--pages", "1", "--repeats", "1", "--rounds", "1",
                           "--output", str(output), *(["--mnist-dir", str(mnist_dir)] if mnist_dir else [])])
    assert set(report["styles"]) == set(reading.STYLES)
    for row in report["styles"].values():
        assert row["before_ms"] > 0 and row["now_ms"] > 0
        assert abs(row["ratio"] - row["now_ms"] / row["before_ms"]) < 1e-9
    assert output.is_file()
    trees = subprocess.run(["git", "worktree", "list"], cwd=PROJECT_ROOT, capture_output=True,
                           text=True).stdout
    assert "bench-reading-" not in trees
