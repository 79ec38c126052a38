#!/usr/bin/env bash
# Paired, alternating whole runs of the suite and the PyTorch peer on one machine: suite, peer,
# suite, peer, ... so that both see the same drift in machine load.
#
#   PEER_PYTHON=/tmp/torch-peer/bin/python tools/peer_pairs.sh [PAIRS] [EPOCHS] [TRAIN_ROWS]
#
# Defaults: 2 pairs, 3 epochs, all training rows (TRAIN_ROWS=0), seed 42, minilm. The suite's
# results go to results/runs/, the peer's JSON to results/peers/. Needs GLUE_DIR.
# SUITE_ARGS adds options to the suite's runs (e.g. "--matmul-precision bfloat16"); PEER_MODE
# runs the peer in a reduced-precision mode (bf16-matmul or bf16: tools/peer_precision.py).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-2}
epochs=${2:-3}
rows=${3:-0}
peer_script=${PEER_SCRIPT:-../shared/peers/torch_trainer.py}
: "${PEER_PYTHON:?set PEER_PYTHON to the python of a venv with torch (see the header of the peer script)}"
: "${GLUE_DIR:?set GLUE_DIR to the GLUE folder}"
ckpt=$(python -c "from glue_repro import model; from glue_repro.config import MINILM; print(model.resolve(MINILM))")
mkdir -p results/peers
suite_args=()
[ "$rows" -gt 0 ] && suite_args=(--train-rows "$rows")
read -r -a extra <<< "${SUITE_ARGS:-}"
suite_args+=("${extra[@]}")
peer=("$peer_script")
tag=""
if [ -n "${PEER_MODE:-}" ]; then
    peer=(tools/peer_precision.py "$PEER_MODE" "$peer_script")
    tag="-$PEER_MODE"
fi
for pair in $(seq 1 "$pairs"); do
    echo "pair $pair/$pairs: suite" >&2
    python -m glue_repro.cli run --preset minilm --seed 42 --epochs "$epochs" "${suite_args[@]}" --quiet
    echo "pair $pair/$pairs: pytorch peer" >&2
    out="results/peers/$(date -u +%Y%m%d-%H%M%S)-mrpc-pytorch${tag}-minilm-e${epochs}-rows${rows}-seed42.json"
    CKPT=$ckpt EPOCHS=$epochs SEED=42 LIMIT=$rows THREADS=$(nproc) OUT=$out "$PEER_PYTHON" "${peer[@]}" >/dev/null
    echo "$out"
done
