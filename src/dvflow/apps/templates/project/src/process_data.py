"""Stage process_data: clean the raw data and split it into train and test sets.

Reads data/raw/breast_cancer.csv; writes data/processed/train.csv and data/processed/test.csv.
Params: process_data.test_size, process_data.seed.
"""

from __future__ import annotations

from pathlib import Path

import dvflow
import pandas as pd
from sklearn.model_selection import train_test_split


RAW_PATH = Path("data/raw/breast_cancer.csv")
TRAIN_PATH = Path("data/processed/train.csv")
TEST_PATH = Path("data/processed/test.csv")
TARGET = "target"


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows with missing values and exact duplicates."""
    return frame.dropna().drop_duplicates().reset_index(drop=True)


def split_data(
    frame: pd.DataFrame, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into train and test sets, stratified on the label.

    Stratifying keeps the class balance of both sets equal to the whole data's, which
    matters on small data sets; the seed makes the split the same on every run.
    """
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[TARGET]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def main() -> None:
    """Run the stage: read, clean, split, write, and log the set sizes."""
    with dvflow.start_run(description="Clean the raw data and split it into train/test."):
        params = dvflow.params()["process_data"]
        raw = pd.read_csv(RAW_PATH)
        data = clean(raw)
        train, test = split_data(data, params["test_size"], params["seed"])

        TRAIN_PATH.parent.mkdir(parents=True, exist_ok=True)
        train.to_csv(TRAIN_PATH, index=False)
        test.to_csv(TEST_PATH, index=False)

        # Row counts are logged to MLflow only (not DVC metrics): enough to spot a
        # change in the raw data from the runs table.
        dvflow.log_metrics({"rows_raw": len(raw), "rows_train": len(train), "rows_test": len(test)})
        print(f"train: {len(train)} rows, test: {len(test)} rows")


if __name__ == "__main__":
    main()
