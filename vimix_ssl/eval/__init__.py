"""Evaluators: features, retrieval, linear probe, finetune, kNN, results and reports.

Each evaluator takes features or datasets and returns numbers; reading configs and command
lines is the evaluation job's (``vimix_ssl.jobs.evaluate``).
"""
