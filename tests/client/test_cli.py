"""`python -m client upload` end to end, run as a user runs it, against the app served over
real HTTP and read by a real Celery worker: folders in, one CSV out, several batches under a
limit, and the exit status of every outcome."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.client.running import SMALL_LIMIT, TOKEN, closed_port, printed, run_cli, write

CONTRACT_COLUMNS = ["batch_id", "document", "page", "field", "x", "y", "width", "height",
                    "page_width", "page_height", "value", "recognized_value", "confidence", "status"]
OVERHEAD = 1000  # more than a file part's head and the closing boundary take in a body


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_a_folder_waited_for_gives_exit_0_and_a_csv_of_every_field(served, cheques, tmp_path) -> None:  # type: ignore[no-untyped-def]
    scans = tmp_path / "scans"
    write(scans / "b.png", cheques[1][0])
    write(scans / "a" / "first.png", cheques[0][0])  # walked in sorted order: a/first.png first
    write(scans / "notes.txt", b"not a scan")
    out = tmp_path / "out.csv"
    run = run_cli("upload", str(scans), "--url", served.url, "--wait", "--csv", str(out))
    assert run.returncode == 0, run.stderr
    [(batch_id, state)] = printed(run)
    assert state == "done"
    assert "skipped" in run.stderr and "notes.txt" in run.stderr
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    found = rows(out)
    assert [r["document"] for r in found] == ["first.png"] * cheques[0][1] + ["b.png"] * cheques[1][1]
    assert {r["batch_id"] for r in found} == {batch_id}
    assert all(r["value"].isdigit() or not r["value"] for r in found), found
    assert all(0 <= float(r["confidence"]) <= 1 for r in found), found


def test_files_over_the_batch_limit_go_in_several_batches_and_one_export(served, cheques, tmp_path) -> None:  # type: ignore[no-untyped-def]
    scans = tmp_path / "scans"
    first, second = write(scans / "1.png", cheques[0][0]), write(scans / "2.png", cheques[2][0])
    limit = max(first.stat().st_size, second.stat().st_size) + OVERHEAD  # one file a batch
    out_csv, out_json = tmp_path / "all.csv", tmp_path / "all.json"
    run = run_cli("upload", str(scans), "--url", served.url, "--max-batch-bytes", str(limit),
                  "--csv", str(out_csv), "--json", str(out_json))
    assert run.returncode == 0, run.stderr
    batches = printed(run)
    assert [state for _, state in batches] == ["done", "done"] and len({i for i, _ in batches}) == 2
    text = out_csv.read_text(encoding="utf-8")
    assert sum(line.startswith("batch_id,") for line in text.splitlines()) == 1  # one header
    found = rows(out_csv)
    assert [(r["batch_id"], r["document"]) for r in found] == (
        [(batches[0][0], "1.png")] * cheques[0][1] + [(batches[1][0], "2.png")] * cheques[2][1])
    exported = json.loads(out_json.read_text(encoding="utf-8"))
    assert [b["id"] for b in exported] == [i for i, _ in batches]
    assert [len(b["fields"]) for b in exported] == [cheques[0][1], cheques[2][1]]
    assert all(b["status"] == "done" and b["documents"]["total"] == 1 for b in exported)


def test_a_file_larger_than_a_batch_may_be_is_not_sent_exit_1(served, cheques, tmp_path) -> None:  # type: ignore[no-untyped-def]
    scan = write(tmp_path / "big.png", cheques[0][0])
    before = served.service.client.get("/api/batches").get_json()["total"]
    run = run_cli("upload", str(scan), "--url", served.url, "--max-batch-bytes", "10k", "--wait")
    assert run.returncode == 1, run.stderr
    assert "big.png" in run.stderr and "not sent" in run.stderr and printed(run) == []
    assert served.service.client.get("/api/batches").get_json()["total"] == before


def test_a_service_with_a_lower_limit_gets_smaller_batches_exit_1_for_a_file_over_it(  # type: ignore[no-untyped-def]
        served, cheques, tmp_path) -> None:
    # The client's default batch is over this service's MAX_UPLOAD_BYTES: the service answers
    # 413 naming its limit (before it has read the body), and the client splits again under it.
    write(tmp_path / "scans" / "1-big.png", bytes(3 * SMALL_LIMIT))  # over the limit even alone
    write(tmp_path / "scans" / "2.png", cheques[1][0])
    run = run_cli("upload", str(tmp_path / "scans"), "--url", served.small_url, "--wait")
    assert run.returncode == 1, run.stderr
    assert f"at most {SMALL_LIMIT} bytes" in run.stderr and "1-big.png" in run.stderr
    assert "not sent" in run.stderr
    [(_, state)] = printed(run)
    assert state == "done"


def test_a_file_the_service_cannot_read_makes_the_batch_partial_exit_1(served, cheques, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = write(tmp_path / "good.png", cheques[1][0])
    bad = write(tmp_path / "notes.txt", b"named, so sent: the service says what it is not")
    run = run_cli("upload", str(good), str(bad), "--url", served.url, "--wait")
    assert run.returncode == 1, run.stderr
    [(batch_id, state)] = printed(run)
    assert state == "partial"
    assert "notes.txt" in run.stderr
    status = served.service.status(batch_id)
    assert status["documents"] == {"total": 2, "done": 1, "failed": 1}


def test_a_batch_of_unreadable_files_only_is_refused_exit_1(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = write(tmp_path / "notes.txt", b"not a scan")
    run = run_cli("upload", str(bad), "--url", served.url)
    assert run.returncode == 1, run.stderr
    assert "HTTP 415" in run.stderr and "notes.txt" in run.stderr and printed(run) == []


def test_no_service_at_the_url_is_exit_2_naming_it(cheques, tmp_path) -> None:  # type: ignore[no-untyped-def]
    scan = write(tmp_path / "scan.png", cheques[0][0])
    url = f"http://127.0.0.1:{closed_port()}"
    run = run_cli("upload", str(scan), "--wait", url=url)  # the URL from DIGITS_URL
    assert run.returncode == 2, run.stderr
    assert url in run.stderr and "cannot reach" in run.stderr


def test_a_missing_or_wrong_token_is_exit_2_and_nothing_is_sent(served, cheques, tmp_path) -> None:  # type: ignore[no-untyped-def]
    scan = write(tmp_path / "scan.png", cheques[0][0])
    before = served.service.client.get("/api/batches").get_json()["total"]
    for token in (None, TOKEN + "-wrong"):
        run = run_cli("upload", str(scan), "--url", served.token_url, token=token)
        assert run.returncode == 2, run.stderr
        assert served.token_url in run.stderr and "HTTP 401" in run.stderr and "API_TOKEN" in run.stderr
    assert served.service.client.get("/api/batches").get_json()["total"] == before


def test_usage_errors_are_exit_2(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    empty = str(tmp_path)  # a folder with nothing to send
    for args in (["upload"], ["upload", str(tmp_path / "missing.png")], ["upload", empty, "--threshold", "2"],
                 ["upload", empty, "--template", "no-such-template"], ["upload", empty],
                 ["upload", empty, "--csv", str(tmp_path / "missing" / "out.csv")]):
        run = run_cli(*args, "--url", served.url)
        assert run.returncode == 2, (args, run.stderr)
        assert run.stderr.strip(), args
