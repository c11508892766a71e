"""Tests of the train stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.utils.validation import check_is_fitted

from src.process_data import split_data
from src.train_model import save_model, score, train_model


def test_model_is_fitted_and_accurate(dataset: pd.DataFrame) -> None:
    train, test = split_data(dataset, test_size=0.3, seed=0)
    model = train_model(train, n_estimators=30, max_depth=4, seed=0)
    check_is_fitted(model)
    metrics = score(model, test)
    assert set(metrics) == {"accuracy", "f1_macro"}
    # Tumours are well separated by these measurements: a small forest gets most right.
    assert metrics["accuracy"] > 0.85


def test_training_is_reproducible(dataset: pd.DataFrame) -> None:
    first = train_model(dataset, n_estimators=10, max_depth=3, seed=7)
    second = train_model(dataset, n_estimators=10, max_depth=3, seed=7)
    features = dataset.drop(columns=["target"])
    assert (first.predict_proba(features) == second.predict_proba(features)).all()


def test_saved_model_is_one_mlflow_serves(dataset: pd.DataFrame, tmp_path: Path) -> None:
    # What `dvflow register` does with models/model.pkl: MLflow's sklearn flavour.
    import pickle

    import mlflow.pyfunc
    import mlflow.sklearn
    import skops.io

    model = train_model(dataset, n_estimators=5, max_depth=3, seed=0)
    save_model(model, tmp_path / "models" / "model.pkl")
    with (tmp_path / "models" / "model.pkl").open("rb") as file:
        loaded = pickle.load(file)
    # A forest's trees are types skops (MLflow's default format) must be told to trust.
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(loaded))
    mlflow.sklearn.save_model(loaded, str(tmp_path / "mlflow-model"), skops_trusted_types=trusted)
    served = mlflow.pyfunc.load_model(str(tmp_path / "mlflow-model"))
    features = dataset.drop(columns=["target"])
    assert (served.predict(features) == model.predict(features)).all()
