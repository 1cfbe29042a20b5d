"""Run benchmark areas in child processes and render the results."""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from vimix_ssl.jobs.bench import AREAS
from vimix_ssl.utils.io import atomic_write_json, atomic_write_text


def _child(module_name: str, quick: bool, conn) -> None:
    from vimix_ssl.utils.threads import prepare_process

    prepare_process()  # a fresh interpreter: before the area imports torch
    try:
        module = importlib.import_module(module_name)
        start = time.perf_counter()
        result = module.run(quick=quick)
        result["seconds"] = round(time.perf_counter() - start, 1)
        # ru_maxrss is KiB on Linux: the peak resident memory of this area's process.
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        conn.send(result)
    except Exception:  # report the failure, keep the suite going
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def run_area(name: str, quick: bool) -> dict[str, Any]:
    if name not in AREAS:
        raise SystemExit(f"unknown benchmark area {name!r}; expected one of {sorted(AREAS)}")
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(AREAS[name], quick, child))
    proc.start()
    child.close()
    result = parent.recv() if parent.poll(None) else {"error": "no result"}
    proc.join()
    result["area"] = name
    return result


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    try:
        import cv2

        info["opencv"] = cv2.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def render_markdown(results: list[dict[str, Any]], info: dict[str, Any], command: str) -> str:
    lines = ["# Benchmark results", "",
             f"Command: `{command}`", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items() if v is not None), ""]
    for r in results:
        lines.append(f"## {r.get('title', r['area'])}")
        lines.append("")
        if r.get("error"):
            lines += ["FAILED:", "```", r["error"].strip(), "```", ""]
            continue
        cols = r["columns"]
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for row in r["rows"]:
            lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
        lines.append("")
        met = r.get("goal_met")
        verdict = "met" if met else ("not met" if met is not None else "n/a")
        lines.append(f"Goal: {r.get('goal', '')} — **{verdict}**. "
                     f"Area time {r.get('seconds')} s, peak RSS {r.get('peak_rss_mib')} MiB.")
        if r.get("notes"):
            lines += ["", r["notes"]]
        lines.append("")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def run_suite(areas: list[str] | None, quick: bool, out: str) -> list[dict[str, Any]]:
    names = areas or list(AREAS)
    results = []
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        r = run_area(name, quick)
        status = "FAILED" if r.get("error") else f"{r.get('seconds')} s"
        print(f"[bench] {name}: {status}", file=sys.stderr, flush=True)
        results.append(r)
    info = machine()
    command = "vimix bench" + (" --quick" if quick else "") + (f" --only {','.join(areas)}" if areas else "")
    out_path = Path(out)
    atomic_write_text(out_path, render_markdown(results, info, command))
    payload = {"machine": info, "command": command, "results": results}
    atomic_write_json(out_path.with_suffix(".json"), payload)
    print(f"[bench] wrote {out_path} and {out_path.with_suffix('.json')}", file=sys.stderr)
    return results
