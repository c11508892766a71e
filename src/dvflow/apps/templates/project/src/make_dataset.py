"""Write the raw dataset to data/raw/breast_cancer.csv.

`dvflow init` runs this once and then `dvc add data/raw/breast_cancer.csv`: the raw
data is versioned by DVC (data/raw/breast_cancer.csv.dvc in git), not produced by a
pipeline stage. To use your own data: put the file under data/raw/, `dvc add` it, and
point the process_data stage in dvc.yaml at it.

The data is scikit-learn's copy of the Wisconsin diagnostic breast cancer data set:
569 tumours, 30 measurements of their cell nuclei, labelled malignant (0) or benign
(1). It ships with scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

RAW_PATH = Path("data/raw/breast_cancer.csv")
TARGET = "target"  # the label column, read by every stage


def load_dataset() -> pd.DataFrame:
    """The data set as one frame: the feature columns, then the `target` label."""
    frame = load_breast_cancer(as_frame=True).frame.copy()
    # "mean radius" -> "mean_radius": plain names keep plots and metric keys simple.
    frame.columns = [re.sub(r"\W+", "_", str(column)) for column in frame.columns]
    return frame


def main() -> None:
    """Write the data set to RAW_PATH."""
    RAW_PATH.parent.mkdir(parents=True, exist_ok=True)
    load_dataset().to_csv(RAW_PATH, index=False)
    print(f"wrote {RAW_PATH}")


if __name__ == "__main__":
    main()
