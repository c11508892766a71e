"""``dvflow repro``: run a DVC pipeline with every stage recorded in MLflow.

DVC runs in this process (``pipeline``, ``stagerunner``); MLflow is written by the
recorder process (``dvflow.recorder``).
"""
