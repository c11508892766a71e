"""Stage train: fit the classifier and measure it on the held-out test set.

Reads data/features/{train,test}.csv; writes models/model.pkl, metrics.json and the
confusion matrix (plots/confusion_matrix.csv and .png).
Params: train.n_estimators, train.max_depth, train.seed.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import dvflow
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score

from src.reporting import save_confusion_matrix, write_metrics


FEATURES = Path("data/features")
MODEL_PATH = Path("models/model.pkl")
METRICS_PATH = Path("metrics.json")
CONFUSION_CSV = Path("plots/confusion_matrix.csv")
CONFUSION_PNG = Path("plots/confusion_matrix.png")
TARGET = "target"


def split_xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Separate the features from the label."""
    return frame.drop(columns=[TARGET]), frame[TARGET]


def train_model(
    train: pd.DataFrame, n_estimators: int, max_depth: int | None, seed: int
) -> RandomForestClassifier:
    """Fit a random forest on the train set; the seed makes the forest reproducible."""
    features, labels = split_xy(train)
    model = RandomForestClassifier(
        n_estimators=n_estimators, max_depth=max_depth, random_state=seed
    )
    return model.fit(features, labels)


def save_model(model: RandomForestClassifier, path: Path) -> None:
    """Pickle the fitted estimator: a scikit-learn model that `dvflow register` logs in
    MLflow's own format (the sklearn flavour), so `mlflow.pyfunc.load_model` serves it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        pickle.dump(model, file)


def score(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    """Accuracy and macro-averaged F1 (every class weighs the same) on `frame`."""
    features, labels = split_xy(frame)
    predicted = model.predict(features)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1_macro": float(f1_score(labels, predicted, average="macro")),
    }


def main() -> None:
    """Run the stage: train, save the model, write metrics and the confusion matrix."""
    with dvflow.start_run(description="Train the classifier."):
        params = dvflow.params()["train"]
        train = pd.read_csv(FEATURES / "train.csv")
        test = pd.read_csv(FEATURES / "test.csv")
        model = train_model(train, params["n_estimators"], params["max_depth"], params["seed"])

        save_model(model, MODEL_PATH)
        # The model file is versioned by DVC (its hash is in dvc.lock), not uploaded to
        # MLflow: the run carries only a description of it. `dvflow register
        # models/model.pkl --name NAME` publishes it to MLflow's model registry.
        dvflow.log_params({"model.class": type(model).__name__})

        metrics = {"train": score(model, train), "test": score(model, test)}
        write_metrics(metrics, METRICS_PATH)
        dvflow.log_metrics(metrics)
        features, labels = split_xy(test)
        save_confusion_matrix(labels, model.predict(features), CONFUSION_CSV, CONFUSION_PNG)
        dvflow.log_artifact(CONFUSION_PNG, "plots")
        print(f"test accuracy: {metrics['test']['accuracy']:.3f}")


if __name__ == "__main__":
    main()
