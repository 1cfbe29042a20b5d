"""The mixer comparison behind ``vimix compare``.

Trains the same supervised config once per mixer (same seed, data, model and epochs; only
``mixer`` and ``out_dir`` differ), then writes ``OUT/comparison.json`` and
``OUT/comparison.md`` with top-1/top-5 per mixer, the test protocol (``test_views``) and
the command that produced them. A mixer whose run already wrote ``results.json`` under the
same test protocol is not retrained (delete it to redo); under another protocol it is an error.
``mixer_kwargs`` of the config apply to every mixer, so compare from a config without them
(e.g. ``configs/supervised/synth_baseline.yaml``); each mixer then runs at its defaults.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

DEFAULT_MIXERS = "baseline,mixup,videomix,framecutmix,cubecutmix,fademixup,svmix"


def _views(row: dict) -> str:
    protocol = row["test_protocol"]
    return f"{protocol['name']}: {protocol['clips']}x{protocol['crops']} @ {protocol['size']} px"


def markdown_table(rows: list[dict], command: str) -> str:
    lines = ["| mixer | top-1 (%) | top-5 (%) | test videos | test views (softmax averaged) |",
             "|---|---:|---:|---:|---|"]
    lines += [f"| {r['mixer']} | {r['top1']:.2f} | {r['top5']:.2f} | {r['test_videos']} | {_views(r)} |"
              for r in rows]
    return "\n".join(lines) + f"\n\nProduced by:\n\n```\n{command}\n```\n"


def run_comparison(config_path: str, overrides: list[str], mixers: list[str], out: Path,
                   command: str) -> list[dict[str, Any]]:
    """Train ``config_path`` once per mixer (same seed and budget) and write the comparison table."""
    from vimix_ssl.config import ConfigError
    from vimix_ssl.data.config import VideoDataConfig
    from vimix_ssl.eval.multiview import parse_protocol
    from vimix_ssl.jobs.supervised.config import load_supervised_config
    from vimix_ssl.jobs.supervised.run import run_supervised
    from vimix_ssl.methods.supervised import SVMIX
    from vimix_ssl.mixing.registry import canonical_name
    from vimix_ssl.utils.io import atomic_write_json, atomic_write_text

    rows = []
    for name in mixers:
        mixer = SVMIX if name == SVMIX else canonical_name(name)
        run_dir = out / name
        config = load_supervised_config(config_path, [*overrides, f"mixer={mixer}", f"out_dir={run_dir}"])
        done = run_dir / "results.json"
        results = json.loads(done.read_text()) if done.is_file() else run_supervised(config)
        wanted = parse_protocol(config.test_views).record(config.data.get("size", VideoDataConfig().size))
        if results.get("test_protocol") != wanted:
            raise ConfigError(f"{done}: tested with {results.get('test_protocol')}, not test_views="
                              f"{config.test_views}; delete it (or use another --out) to re-run that mixer")
        rows.append({**results, "mixer": name})
        print(f"{name}: top-1 {results['top1']:.2f}%", file=sys.stderr)
    atomic_write_json(out / "comparison.json", {"command": command, "rows": rows})
    atomic_write_text(out / "comparison.md", markdown_table(rows, command))
    return rows


def command_line(config_path: str, overrides: list[str], mixers: str, out: str) -> str:
    words = [config_path, *overrides, "--mixers", mixers, "--out", out]
    return "vimix compare " + " ".join(shlex.quote(a) for a in words)
