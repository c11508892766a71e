"""Stage featurize: turn the processed data into model features.

Reads data/processed/{train,test}.csv; writes data/features/{train,test}.csv.
Params: featurize.standardize.

This is the place for feature engineering. The template only standardizes the
measurements, which puts features of very different units and ranges (areas in the
thousands, smoothness below 0.2) on one scale: linear models and distance-based models
need it, and tree models are unaffected by it.
"""

from __future__ import annotations

from pathlib import Path

import dvflow
import pandas as pd
from sklearn.preprocessing import StandardScaler


PROCESSED = Path("data/processed")
FEATURES = Path("data/features")
TARGET = "target"


def featurize(
    train: pd.DataFrame, test: pd.DataFrame, standardize: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the feature frames of the train and test sets; the label is kept as is.

    The scaler is fitted on the train set only, so that nothing about the test set
    leaks into the features the model is trained on.
    """
    train, test = train.copy(), test.copy()
    columns = [column for column in train.columns if column != TARGET]
    if standardize:
        scaler = StandardScaler().fit(train[columns])
        train[columns] = scaler.transform(train[columns])
        test[columns] = scaler.transform(test[columns])
    return train, test


def main() -> None:
    """Run the stage: read the processed sets, build features, write them."""
    with dvflow.start_run(description="Build the model features."):
        params = dvflow.params()["featurize"]
        train = pd.read_csv(PROCESSED / "train.csv")
        test = pd.read_csv(PROCESSED / "test.csv")
        train_features, test_features = featurize(train, test, params["standardize"])

        FEATURES.mkdir(parents=True, exist_ok=True)
        train_features.to_csv(FEATURES / "train.csv", index=False)
        test_features.to_csv(FEATURES / "test.csv", index=False)
        dvflow.log_metrics({"n_features": len(train_features.columns) - 1})


if __name__ == "__main__":
    main()
