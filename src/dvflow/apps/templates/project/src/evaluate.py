"""Stage evaluate: look closer at the trained model on the held-out test set.

Reads models/model.pkl and data/features/test.csv; writes evaluation.json (per-class
precision, recall and F1, and ROC AUC) and the permutation importance of each feature
(plots/feature_importance.csv and .png).
Params: evaluate.n_repeats, evaluate.seed.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import dvflow
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from src.reporting import new_figure, save_figure, write_metrics


MODEL_PATH = Path("models/model.pkl")
TEST_PATH = Path("data/features/test.csv")
EVALUATION_PATH = Path("evaluation.json")
IMPORTANCE_CSV = Path("plots/feature_importance.csv")
IMPORTANCE_PNG = Path("plots/feature_importance.png")
TARGET = "target"


def evaluate_model(model: Any, test: pd.DataFrame) -> dict[str, Any]:
    """Score the model on `test`: per-class precision, recall and F1, and ROC AUC.

    ROC AUC is one-vs-rest when there are more than two classes.
    """
    features, labels = test.drop(columns=[TARGET]), test[TARGET]
    predicted = model.predict(features)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=model.classes_, zero_division=0
    )
    per_class = {
        f"class_{label}": {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(model.classes_)
    }
    probabilities = model.predict_proba(features)
    if len(model.classes_) == 2:
        # Binary: the score of the positive class (the second label).
        roc_auc = roc_auc_score(labels, probabilities[:, 1])
    else:
        roc_auc = roc_auc_score(labels, probabilities, multi_class="ovr", labels=model.classes_)
    return {"roc_auc": float(roc_auc), "per_class": per_class}


def feature_importance(model: Any, test: pd.DataFrame, n_repeats: int, seed: int) -> pd.DataFrame:
    """Permutation importance of each feature on `test`, most important first.

    Unlike a forest's built-in importances it works for any model, and it is measured
    on data the model has not seen.
    """
    features, labels = test.drop(columns=[TARGET]), test[TARGET]
    result = permutation_importance(model, features, labels, n_repeats=n_repeats, random_state=seed)
    importance = pd.DataFrame({"feature": features.columns, "importance": result.importances_mean})
    return importance.sort_values("importance", ascending=False, ignore_index=True)


def plot_importance(importance: pd.DataFrame, path: Path) -> None:
    """Draw the importances as a horizontal bar chart, most important on top."""
    fig, ax = new_figure(6, 1 + 0.25 * len(importance))
    ordered = importance.iloc[::-1]
    ax.barh(ordered["feature"], ordered["importance"])
    ax.set_xlabel("mean accuracy drop when shuffled")
    ax.set_title("Permutation importance (test set)")
    save_figure(fig, path)


def main() -> None:
    """Run the stage: load the model, evaluate it, write metrics and plots."""
    with dvflow.start_run(description="Evaluate the trained model."):
        params = dvflow.params()["evaluate"]
        with MODEL_PATH.open("rb") as file:
            model = pickle.load(file)
        test = pd.read_csv(TEST_PATH)

        evaluation = evaluate_model(model, test)
        write_metrics(evaluation, EVALUATION_PATH)
        dvflow.log_metrics(evaluation)
        importance = feature_importance(model, test, params["n_repeats"], params["seed"])
        IMPORTANCE_CSV.parent.mkdir(parents=True, exist_ok=True)
        importance.round(6).to_csv(IMPORTANCE_CSV, index=False)
        plot_importance(importance, IMPORTANCE_PNG)
        dvflow.log_artifact(IMPORTANCE_PNG, "plots")


if __name__ == "__main__":
    main()
