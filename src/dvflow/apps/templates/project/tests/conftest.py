"""Shared test setup: the project root on sys.path, and a small in-memory data set.

The tests exercise the stage functions directly, on frames built in memory: they pass
before the pipeline ever ran and never touch data/, models/ or the MLflow store.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

# The project root, so that tests import `src.<stage>` and `mlflow_utils` as the
# stage scripts do.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.make_dataset import load_dataset


@pytest.fixture(scope="session")
def dataset() -> pd.DataFrame:
    """The raw data set, as src/make_dataset.py writes it."""
    return load_dataset()
