# Sourced by the scripts/ensure-*.sh that need a Python package from PyPI for a test peer:
# one private virtualenv per package, made with `python3 -m venv`, nothing installed outside
# it (except Debian's python3 and python3-venv through apt-get when the venv module is missing).
#
#   . scripts/lib/python-venv.sh
#   ensure_python_venv NAME VENV_DIR CHECK_COMMAND PIP_REQUIREMENT
#
# NAME prefixes every log line (stderr). CHECK_COMMAND is Python run by the venv's python:
# it exits 0 when the right package already imports (then nothing is installed). On success
# the function prints the venv's python (an absolute path, not resolved through its symlink)
# on stdout; on failure it logs why and returns 1.

ensure_python_venv() {
    local name="$1" venv="$2" check="$3" requirement="$4" py sudo=""
    log() { echo "$name: $*" >&2; }
    mkdir -p "$(dirname "$venv")"
    # Absolute, but not through symlinks: the venv's python is a symlink to the system's.
    venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"
    py="$venv/bin/python"
    have() { [ -x "$py" ] && "$py" -c "$check" >/dev/null 2>&1; }

    if have; then
        log "$requirement already in $venv"
        echo "$py"
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
        if ! command -v apt-get >/dev/null 2>&1; then
            log "python3 with its venv module not found and apt-get is unavailable: install python3-venv"
            return 1
        fi
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        log "installing python3 and python3-venv (apt-get)"
        { DEBIAN_FRONTEND=noninteractive $sudo apt-get update &&
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends python3 python3-venv; } >&2 || return 1
    fi
    log "creating $venv and installing $requirement (pip, PyPI)"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || return 1
    "$py" -m pip install --quiet --disable-pip-version-check "$requirement" >&2 || return 1
    if ! have; then
        log "$requirement still does not import from $py after the install"
        return 1
    fi
    echo "$py"
}
