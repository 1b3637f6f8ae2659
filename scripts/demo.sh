#!/usr/bin/env bash
# The README's first run: generate synthetic logs, ingest them, pre-train MCM for a few
# minutes, evaluate it at the time split and print per-task metrics beside popularity.
# Every step is the same `npx nx run` command a user runs on their own data.
#
# Settings (environment variables):
#   DEMO_CUSTOMERS       synthetic customers to generate (default 2000)
#   DEMO_SEED            generator and training seed (default 7)
#   DEMO_BUDGET_MINUTES  training time budget in minutes (default 2.5)
#   DEMO_OUT             output folder (default out/demo); it is replaced on each run
set -euo pipefail

cd "$(dirname "$0")/.."
customers="${DEMO_CUSTOMERS:-2000}"
seed="${DEMO_SEED:-7}"
budget="${DEMO_BUDGET_MINUTES:-2.5}"
out="${DEMO_OUT:-out/demo}"

rm -rf "$out"
mkdir -p "$out"

echo "== 1/4 generate $customers synthetic customers (seed $seed) into $out/raw"
npx nx run pipeline:synth --customers "$customers" --seed "$seed" --out "$out/raw"

echo "== 2/4 ingest them with datasets/synth.json into $out/data"
npx nx run pipeline:ingest --config datasets/synth.json --data-root "$out/raw" --out "$out/data"

# Validation on 500 examples every 100 steps keeps evaluation to a small share of the
# short budget; the final evaluation scores every test customer.
echo "== 3/4 pre-train MCM for $budget minutes into $out/run"
npx nx run trainer:train --data "$out/data" --out "$out/run" --budget-minutes "$budget" --seed "$seed" \
  --eval-every 100 --eval-max-examples 500

echo "== 4/4 evaluate the best checkpoint on the test split"
npx nx run trainer:evaluate --run "$out/run" --split test
