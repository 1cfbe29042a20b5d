"""Evaluation protocol presets: the clean default and the peers' published protocols.

A preset is a layer of config values merged *under* the user's YAML and overrides (an
explicit user value still wins, and the resolved config is saved with the result):

* ``clean`` — METHOD §7 as configured in ``EvalConfig`` (no layer; no test-set selection);
* ``coclr`` — what CoCLR's evaluation scripts do (TengdaHan/CoCLR ``eval/main_classifier.py``,
  ``eval/feature_linear_probe.py``, ``dataset/lmdb_dataset.py``);
* ``crossclr`` — CrosSCLR's skeleton linear evaluation (``processor/linear_evaluation.py``,
  ``config/*/linear_eval*.yaml``): raw pooled features into a plain Linear, its schedule.

A peer's *test-set selection* (CoCLR's probe keeps the best test epoch) is not part of a
preset: set ``probe.select_on_test: true`` and the result is labelled "SELECTED ON TEST".
docs/EVALUATION.md lists every difference with the peer file it comes from.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "clean": {},
    "coclr": {
        "data": {
            # test windows: starts range(0, T - 32 + 1, 15), no tail window, short videos left-padded
            # with frame 0 (dataset/lmdb_dataset.py frame_sampler, mode test)
            "eval_windows": "dense_coclr",
            "eval_window_stride": 15,  # num_frames * ds // 2 - 1 for 32 frames
            "augment": {  # downstream training augmentation (main_classifier.py get_transform('train'))
                "crop_area": [0.2, 1.0],  # A.RandomSizedCrop(bottom_area=0.2)
                "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1,  # ColorJitter(.4,.4,.4,.1)
                "jitter_probability": 0.3,  # p=0.3
                "grayscale_probability": 0.0,  # no RandomGray downstream
                "blur_probability": 0.0,  # no GaussianBlur downstream
                "flip_probability": 0.5,  # T.RandomHorizontalFlip() in transform_train_cuda
            },
        },
        # test transform A.CenterCrop(224) of frames stored at 256 px, then A.Scale(128) (test_retrieval,
        # test_10crop); the dataset drops videos with vlen - num_frames//2 - 1 <= 0, i.e. <= 17 frames
        "eval_crop": 0.875,
        "min_frames": 18,
        # a video's feature = feature.mean(0) over its windows, raw (test_retrieval)
        "features": {"normalise_clips": False},
        # gallery = train split in mode 'train': one random window per video (test_retrieval)
        "retrieval": {"gallery_windows": "random", "centre": True, "ks": [1, 5, 10, 20, 50]},
        # feature_linear_probe.py reads test_retrieval's features: one random window per training video;
        # --normalize --final_bn = our norm_bn_linear head
        "probe_train_windows": "random",
        # feature_linear_probe.py: SGD lr 1.0 momentum 0.9 wd 1e-3, batch 1024, 100 epochs, x0.1 at 60/80
        "probe": {"head": "norm_bn_linear", "lr": 1.0, "batch_size": 1024, "weight_decay": 1e-3,
                  "epochs": 100, "milestones": [60, 80]},
        "finetune": {
            # main_classifier.py: optim.Adam(params, lr=1e-3, weight_decay=1e-3) (coupled L2, not AdamW),
            # backbone at lr/10, dropout 0.9; README finetune recipe: 500 epochs, lr x0.1 at 400 and 450
            "optimizer": "adam_l2", "lr": 1e-3, "weight_decay": 1e-3, "backbone_lr_scale": 0.1,
            "dropout": 0.9, "epochs": 500, "milestones": [400, 450],
            "test_crops": 5,  # --five_crop: corners + centre, no flip (test_10crop aug_list [5,1,2,3,4])
            "test_resize_ratio": 1.15,  # FiveCrop(224) of 256-px frames, then Scale(128): 256/224
            # test_10crop: the short side scaled to 256 (aspect ratio kept), FiveCrop(224) of the whole frame
            "test_frame": "full",
        },
    },
    "crossclr": {
        # processor/linear_evaluation.py: raw pooled ST-GCN features into nn.Linear, SGD lr 3.0,
        # momentum 0.9, wd 0, batch 128, 100 epochs, lr x0.1 at epoch 80
        "features": {"normalise_clips": False},
        "skeleton_probe": {"head": "linear", "lr": 3.0, "momentum": 0.9, "weight_decay": 0.0,
                           "batch_size": 128, "epochs": 100, "milestones": [80], "gamma": 0.1},
    },
}


def protocol_names(text: str) -> list[str]:
    """``"clean,coclr"`` -> ``["clean", "coclr"]``; unknown names are an error listing the presets."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in PRESETS]
    if unknown or not names:
        raise ValueError(f"protocol: unknown preset(s) {unknown or [text]}; expected one or more of "
                         f"{', '.join(PRESETS)} (comma-separated)")
    return names


def preset_layer(name: str) -> dict[str, Any]:
    protocol_names(name)
    return PRESETS[name]
