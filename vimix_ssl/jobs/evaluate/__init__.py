"""The evaluation job behind ``vimix eval ...``: ``session`` (config, datasets, cached features,
encoder loading, error handling) and one module per evaluation (retrieval, linear, knn, finetune)."""
