"""``vimix doctor``: the environment, then a few real steps of every training path on this machine."""

from __future__ import annotations

import argparse

HELP = ("check this machine: environment, then a few real steps of every training path (AMP on/off, "
        "channels-last on/off on GPU), retrieval, multi-GPU; exit 1 on any failure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (a GPU if present) | cpu | cuda")
    parser.add_argument("--quick", action="store_true",
                        help="reduced shapes and encoders (always on CPU; seconds)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per row after one warm-up step")
    parser.add_argument("--processes", type=int, default=None,
                        help="run the multi-process DDP check with N processes (default: 2 with >= 2 GPUs)")
    parser.add_argument("--cpu-amp", action="store_true",
                        help="on CPU also bf16-autocast rows (diagnostic; training uses AMP on CUDA only)")
    parser.add_argument("--out", default=None, help="also write the report (Markdown) to this file")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.jobs.doctor import DoctorOptions, run_doctor

    if args.steps < 0:
        raise ValueError(f"--steps: expected a count >= 0, got {args.steps}")
    if args.processes is not None and args.processes < 2:
        raise ValueError(f"--processes: expected at least 2 processes, got {args.processes}")
    options = DoctorOptions(device=args.device, quick=True if args.quick else None, steps=args.steps,
                            processes=args.processes, cpu_amp=args.cpu_amp)
    report = run_doctor(options)
    if args.out:
        from vimix_ssl.utils.io import atomic_write_text

        atomic_write_text(args.out, report.format() + "\n")
        print(f"report written to {args.out}")
    print("vimix doctor: all checks passed" if report.ok else "vimix doctor: SOME CHECKS FAILED (see above)")
    return 0 if report.ok else 1
