#!/usr/bin/env bash
# Set up (once) and run the main job: a joint (epsilon, structural) Optuna study
# of GCN on Cora with its report, on the default embedded storage (graphls.db in
# the working directory; rerunning resumes the same study).
#   bash scripts/cora_study.sh [extra graphls tune options, e.g. --n-trials 10]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/graphls ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet torch==2.13.0   # CPU build first
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet -e ".[test]"  # no setuptools notices
fi
# Raw datasets: $GRAPHLS_DATA when set; else ../shared/datasets, when present, is
# copied (once, 52 MB) into ~/.cache/graphls, where every graphls command looks by
# default, so `graphls datasets` and `graphls train --dataset Cora` work next
# without --root; else PyG downloads them there.
if [ -z "${GRAPHLS_DATA:-}" ] && [ -d ../shared/datasets/Cora/raw ]; then
  .venv/bin/graphls datasets --copy-from ../shared/datasets
fi
exec .venv/bin/graphls tune --dataset Cora --model gcn --n-trials 30 --out runs/cora-study "$@"
