"""``vimix eval retrieval [CONFIG] --encoder FILE``: nearest-neighbour video retrieval R@k."""

from __future__ import annotations

import argparse

HELP = "video retrieval R@k (queries = test split, gallery = train split, FAISS cosine search)"


MODALITIES = ("rgb", "flow", "joint", "motion", "bone")


def add_eval_arguments(parser: argparse.ArgumentParser, encoder_required: bool = True) -> None:
    """Arguments shared by the `vimix eval` commands (argparse only: `vimix --help` stays fast)."""
    parser.add_argument("config", nargs="?", default=None,
                        help="evaluation YAML (configs/eval/*.yaml); omit to use the defaults")
    parser.add_argument("overrides", nargs="*", default=[],
                        help="key=value overrides, e.g. data.root=/data/ucf101 probe.epochs=50")
    parser.add_argument("--encoder", required=encoder_required,
                        help="encoder file from `vimix export`, or a training checkpoint (+ --modality)")
    parser.add_argument("--modality", default=None, choices=MODALITIES,
                        help="which encoder of a training checkpoint; checked against an encoder file")
    parser.add_argument("--out", default="runs/eval",
                        help="run directory: results in OUT/eval/*.json, table in OUT/results.md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_eval_arguments(parser)


def _run(args: argparse.Namespace) -> int:
    from vimix_ssl.eval import split_features, start_session
    from vimix_ssl.eval.results import format_metrics, write_result
    from vimix_ssl.eval.retrieval import evaluate_retrieval, write_neighbours

    session = start_session(args)
    config = session.config.retrieval
    features, cache = split_features(session.config, session.source, session.modality)
    train, test = features["train"], features["test"]
    output = evaluate_retrieval(train.features.numpy(), train.labels.numpy(), test.features.numpy(),
                                test.labels.numpy(), config)
    metrics = {f"R@{k}": value for k, value in output.recall.items()}
    files = {"features": {split: record["cache"] for split, record in cache.items()}}
    if config.save_neighbours:
        from vimix_ssl.eval.results import now_iso

        stamp = now_iso().replace(":", "").replace("+", "p")
        path = write_neighbours(session.run_dir / "eval" / f"neighbours_{session.modality}_{stamp}.json",
                                output, config.save_neighbours, test.video_ids, test.labels.tolist(),
                                train.video_ids, train.labels.tolist())
        files["neighbours"] = str(path)
    protocol = session.protocol(queries="test", gallery="train", cache=cache,
                                queries_count=len(test.video_ids), gallery_count=len(train.video_ids))
    path = write_result(session.run_dir, "retrieval", metrics, protocol, session.source.describe(),
                        session.started, data=_data_label(session), files=files)
    print(f"retrieval {session.modality}: {format_metrics(metrics)}  ({path})")
    return 0


def _data_label(session) -> str:
    from vimix_ssl.eval import modality_kind

    if modality_kind(session.modality) == "skeleton":
        return f"ntu {session.config.skeleton.benchmark}"
    return f"{session.config.data.dataset} split {session.config.data.split}"


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.eval import run_command

    return run_command(_run, args)
