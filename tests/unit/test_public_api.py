"""The public in-script API: small, documented, and cheap to import."""

import subprocess
import sys

import dvflow


def test_every_public_function_has_a_docstring_with_an_example() -> None:
    functions = [getattr(dvflow, name) for name in dvflow.__all__ if name != "__version__"]
    assert functions
    for function in functions:
        assert function.__doc__ and "Example" in function.__doc__, function.__name__


def test_importing_dvflow_imports_neither_mlflow_nor_dvc() -> None:
    code = "import sys, dvflow; print([m for m in ('mlflow', 'dvc') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
