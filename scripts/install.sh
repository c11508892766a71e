# Sourced by the other scripts: install_into VENV LOG PIP-ARGS... installs packages into
# a virtual environment, logging to LOG. It uses uv (seconds: parallel downloads, one
# shared cache for every venv) and falls back to pip (minutes) when uv cannot be had.
# Both compile the bytecode at install time, as pip does by default: where
# PYTHONDONTWRITEBYTECODE is set, Python would otherwise compile every module it
# imports again in every process (seconds for mlflow and scikit-learn each).
# Set DVFLOW_INSTALLER=pip to use pip only.
install_into() {
    local venv=$1 log=$2
    shift 2
    local python="$venv/bin/python"
    mkdir -p "$(dirname "$log")"
    if [ "${DVFLOW_INSTALLER:-uv}" = uv ] \
        && "$python" -m pip install -q uv >"$log" 2>&1 \
        && "$python" -m uv pip install --compile-bytecode --python "$python" "$@" \
            >>"$log" 2>&1; then
        return 0
    fi
    echo "   (uv unavailable or failed: installing with pip)" >>"$log"
    { "$python" -m pip install --upgrade pip && "$python" -m pip install "$@"; } >>"$log" 2>&1 \
        || { tail -40 "$log"; return 1; }
}
