"""Jobs: what a command runs, each owning its config schema, its config → objects step, its driver
and its resume logic. Jobs assemble methods, evaluators, models, mixers and data; nothing below
imports a job.

- ``pretrain``: the MoCo / i-Mix / SkeletonCLR / CMMC stage schedule (``vimix pretrain``)
- ``supervised``: supervised training with a mixer and the mixer comparison (``vimix train|compare``)
- ``evaluate``: the evaluation session behind ``vimix eval ...``
- ``demo``, ``study``, ``bench``: the end-to-end demo, the reproduction study, the benchmark suite
"""
