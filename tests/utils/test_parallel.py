"""Worker processes of `run_jobs` die with their parent, even when it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vimix_ssl.utils.parallel import run_jobs

REPO = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_parent_takes_the_workers_with_it():
    """Issue 18 trial 11: `kill -9` of a `prepare` parent left its workers running until killed by hand."""
    script = textwrap.dedent("""
        import time
        from vimix_ssl.utils.parallel import run_jobs
        run_jobs([60.0, 60.0], time.sleep, workers=2)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO,
                              env={**os.environ, "VIMIX_NO_PROGRESS": "1"})
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # the pool's workers (spawn may add a resource tracker: only the busy ones matter)
            workers = _children(parent.pid)
            if len(workers) >= 2:
                break
            time.sleep(0.05)
        assert len(workers) >= 2, "the pool did not start"
        time.sleep(0.3)  # let the workers run their initializer (it arms the death signal)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        survivors = [w for w in workers if _alive(w)]
        for pid in survivors:  # clean up before failing
            os.kill(pid, signal.SIGKILL)
        assert not survivors, f"workers {survivors} outlived their killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_a_failing_item_is_reported_and_the_others_finish():
    summary = run_jobs([1, 0, 2], lambda x: 1 / x, workers=1)
    assert summary.done == [1, 2] and summary.failed[0][0] == 0
    assert "ZeroDivisionError" in summary.failed[0][1]
