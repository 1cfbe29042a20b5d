"""What an encoder's inputs were: the record every checkpoint and encoder file carries.

An encoder only means something together with its inputs: flow in pixels vs normalised
units differ by the quantisation bound (20x), RGB normalised with other statistics or
clips of another length give other features. :func:`input_record` builds the record from
a training run's data config; evaluators compare it with their own config
(:func:`input_differences`) and refuse a disagreeing explicit setting unless forced.

Record (plain data)::

    {"format": 1, "modality": "flow", "kind": "video", "channels": 2,
     "clip_len": 32, "stride": 1, "size": 128,
     "normalise": {"mean": [...], "std": [...]} | None,          # rgb only
     "flow_units": "normalized", "flow_quantisation": {"dtype": "uint8", "bound": 20.0,
                                                       "method": "tvl1"} | None,  # flow only
     "trained_on": {"dataset": "ucf101", "split": 1, "subset": "train", "splits": ..., "root": ...}}

Skeleton records hold ``arrays`` (frame50 / data), ``benchmark`` and the prepared root instead.
"""

from __future__ import annotations

from typing import Any

from vimix_ssl.config import from_dict, to_dict
from vimix_ssl.modalities import modality_kind

INPUT_RECORD_FORMAT = 1
DEFAULT_CHANNELS = {"rgb": 3, "flow": 3, "joint": 3, "motion": 3, "bone": 3}
SKELETON_LOADER_KEYS = ("batch_size", "num_workers")  # pre-training loader keys in a skeleton data dict


def _flow_quantisation(store: str) -> dict[str, Any] | None:
    """dtype/bound/method of a flow store's manifest, or ``None`` when it cannot be read."""
    if not store:
        return None
    from vimix_ssl.data.store import StoreError, read_manifest

    try:
        manifest = read_manifest(store)
    except (StoreError, OSError, ValueError):
        return None
    return {"dtype": "uint8", "bound": manifest.get("bound"), "method": manifest.get("method")}


def input_record(modality: str, data: dict[str, Any], encoder_kwargs: dict[str, Any] | None = None,
                 flow_units: str | None = None, flow_store: str = "") -> dict[str, Any]:
    """The input record of a ``modality`` encoder trained on ``data`` (a data-config mapping).

    ``data`` holds ``VideoDataConfig`` fields (rgb/flow) or ``SkeletonDataConfig`` fields;
    missing fields take their defaults. ``flow_units`` and ``flow_store`` describe the flow
    modality (``ModalityConfig.flow_units`` / ``.store``).
    """
    kind = modality_kind(modality)
    channels = int((encoder_kwargs or {}).get("in_channels", DEFAULT_CHANNELS[modality]))
    record: dict[str, Any] = {"format": INPUT_RECORD_FORMAT, "modality": modality, "kind": kind,
                              "channels": channels}
    if kind == "skeleton":
        from vimix_ssl.data.skeleton.dataset import SkeletonDataConfig

        skeleton = from_dict(SkeletonDataConfig, {k: v for k, v in data.items()
                                                  if k not in SKELETON_LOADER_KEYS})
        record.update(arrays=skeleton.arrays, trained_on={"dataset": "ntu", "benchmark": skeleton.benchmark,
                                                          "subset": "train", "root": skeleton.root})
        return record
    from vimix_ssl.data.config import VideoDataConfig

    video = from_dict(VideoDataConfig, dict(data))
    record.update(clip_len=video.clip_len, stride=video.stride, size=video.size)
    record["normalise"] = ({"mean": list(video.augment.mean), "std": list(video.augment.std)}
                           if modality == "rgb" else None)
    if modality == "flow":
        record["flow_units"] = flow_units or "normalized"
        record["flow_quantisation"] = _flow_quantisation(flow_store)
    record["trained_on"] = {"dataset": video.dataset, "split": video.split, "subset": "train",
                            "splits": video.splits, "root": video.root, "store": video.store}
    return record


# evaluation setting (dotted EvalConfig key) -> how to read it from the record and the config
COMPARED = {
    "flow_units": "flow_units",
    "data.clip_len": "clip_len",
    "data.stride": "stride",
    "data.size": "size",
    "data.augment.mean": ("normalise", "mean"),
    "data.augment.std": ("normalise", "std"),
}


def recorded_value(record: dict[str, Any], path: str | tuple[str, str]) -> Any:
    if isinstance(path, tuple):
        outer = record.get(path[0])
        return None if outer is None else outer.get(path[1])
    return record.get(path)


def _get(config: Any, dotted: str) -> Any:
    value: Any = to_dict(config)
    for part in dotted.split("."):
        value = value[part]
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(abs(float(x) - float(y)) < 1e-9 for x, y in zip(a, b))
    return a == b


def input_differences(record: dict[str, Any], config: Any) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (recorded, configured)}`` for every compared setting the two disagree on."""
    out = {}
    for key, path in COMPARED.items():
        recorded = recorded_value(record, path)
        if recorded is None:
            continue  # not recorded for this modality (e.g. normalise for flow)
        configured = _get(config, key)
        if not _same(recorded, configured):
            out[key] = (recorded, configured)
    return out


def set_dotted(config: Any, dotted: str, value: Any) -> None:
    """Set ``config.a.b.c = value`` (tuples kept as tuples)."""
    parts = dotted.split(".")
    target = config
    for part in parts[:-1]:
        target = getattr(target, part)
    current = getattr(target, parts[-1])
    setattr(target, parts[-1], tuple(value) if isinstance(current, tuple) else value)
