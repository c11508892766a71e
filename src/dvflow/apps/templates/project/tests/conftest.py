"""Shared test setup: a small in-memory data set.

The tests exercise the stage functions directly, on frames built in memory: they pass
before the pipeline ever ran and never touch data/, models/ or the MLflow store. They
import the stages as `src.<stage>`, the modules `python -m` runs: pyproject.toml puts
the project root on pytest's import path.
"""

from __future__ import annotations

import pandas as pd
import pytest

from src.make_dataset import load_dataset


@pytest.fixture(scope="session")
def dataset() -> pd.DataFrame:
    """The raw data set, as src/make_dataset.py writes it."""
    return load_dataset()
