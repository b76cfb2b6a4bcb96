#!/usr/bin/env bash
# The GPU measurements of docs/performance.md and docs/stage1_gpu.md, in phases that each fit one
# 10-minute command on a lent H100/H200 (no network there: the repository runs from its checkout
# with PYTHONPATH, on the machine's own torch).
#
#   bash scripts/gpu_session.sh OUT_DIR PHASE...
#     PHASE: notebooks | fastpath | maxbatch | train | bench | profile | rest | rest-io
#     notebooks  `dpig run --preset synth` on CUDA: the five notebooks through papermill, step
#                counts sized for about 3 minutes; executed notebooks + summary for docs/gpu_run/
#                (papermill & co. are not on the H200 image: carry them as wheels in .whl/ and
#                install them first, see docs/gpu_run/README.md)
#     fastpath   Stage-I eager step against stage1_compile="graphs" (CUDA graph), Market b16
#     maxbatch   the exact largest DeepFashion batch, bf16 + channels-last
#     train    synth preset, the real trainer (bf16 + channels-last), TRAIN_SECONDS (default 280)
#     bench    Stage-I matrix (core variants) + the compiled variant
#     profile  profiler top kernels of the bf16 channels-last step
#     rest     DeepFashion max batch, Stage-II
#     rest-io  data loading, sampling latency
#
# Every step has its own time limit and a failure does not stop the next. Logs, JSON, the run's
# log/val CSVs and sample grids (never checkpoints) are packed into OUT_DIR/gpu_results.tar.gz.
set -u
out_final=$1; shift
out=/tmp/gpu_results
secs=${TRAIN_SECONDS:-280}
rm -rf "$out"; mkdir -p "$out" "$out_final"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
py=python3
step() {  # step NAME SECONDS CMD...: run with a limit, log to OUT/NAME.log, report the exit code
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout -s INT -k 20 "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0)) s"
  tail -n 25 "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
# The device gets a copy of the working tree whose git metadata is not the checkout's, so a run's
# own summary.json names the wrong commit. The caller writes the real one beforehand
# (`git rev-parse HEAD > .gpu_source_commit`, carried like .whl); it goes into the results.
if [ -f .gpu_source_commit ]; then cp .gpu_source_commit "$out/source_commit.txt"
else echo "unknown (no .gpu_source_commit was carried)" >"$out/source_commit.txt"; fi
echo "source commit: $(cat "$out/source_commit.txt")"
$py -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__)"

for phase in "$@"; do
case $phase in
  notebooks)
    # The notebook pipeline as a researcher runs it on a GPU, shortened to fit the lease: fewer
    # SynthPerson identities and steps than the synth preset, everything else the preset's.
    # FID's Inception weights cannot travel (87 MB), so notebook 05 reports FID unavailable.
    nb=/tmp/dpig_gpu_notebooks
    # Sized from the 2026-12-04 H200 lease (docs/gpu_run/README.md): at 1,200 / 1,000 / 800 / 800
    # steps notebooks 01-03 alone took 296 s; half the steps leave room for 04 and 05.
    step notebooks "${NOTEBOOK_SECONDS:-420}" $py -m dpiglib run --preset synth --device cuda \
      --out "$nb" -p synth_identities 120 -p synth_test_identities 24 -p stage1_steps 600 \
      -p stage1_pose_ae_steps 500 -p stage2_steps 400 -p stage2_pose_steps 400
    mkdir -p "$out/notebooks"
    cp "$nb"/notebooks/*.ipynb "$nb"/summary.json "$nb"/report.md "$nb"/config.json \
      "$out/notebooks/" 2>/dev/null
    cp -r "$nb"/logs "$out/notebooks/" 2>/dev/null
    cp "$nb"/stage1/log.csv "$out/notebooks/stage1_log.csv" 2>/dev/null
    cp "$nb"/eval/metrics.json "$out/notebooks/eval_metrics.json" 2>/dev/null
    $py -c "import json,sys; s=json.load(open(sys.argv[1])); print(json.dumps({k: s.get(k) for k in ('status','device','seconds','notebooks')}, default=str)[:1500])" "$nb/summary.json"
    ;;
  fastpath)
    step fastpath 150 $py benchmarks/bench_stage1.py --fast-path --device cuda --preset market \
      --dtype bf16 --channels-last --steps 300 --warmup 20 --out "$out/stage1_fast_path.json"
    ;;
  maxbatch)
    step max_batch 400 $py benchmarks/bench_stage1.py --device cuda --only-max-batch \
      --max-batch-dtypes bf16 --max-batch-precision 128 --out "$out/stage1_gpu_max_batch.json"
    ;;
  train)
    # The synth preset is the paper's Market configuration (batch 16, 128x64, paper widths, Adam
    # 2e-5) on SynthPerson; worker processes read the PNGs while the GPU trains.
    run=/tmp/dpig_synth_gpu
    step data_gen 120 $py -c "import sys; from dpiglib.config import get_preset; from dpiglib.data.prepare import ensure_dataset; ensure_dataset(get_preset('synth'), sys.argv[1], progress=False)" "$run"
    step train "$secs" $py -m dpiglib train stage1 --preset synth --device cuda --out "$run" \
      --model image --quiet -p data_num_workers 6
    tar -czf "$out/synth_run.tar.gz" -C "$run" config.json stage1/log.csv stage1/val.csv \
      stage1/samples 2>/dev/null
    $py - "$run" "$out" <<'EOF'
import sys, torch, pandas as pd
run, out = sys.argv[1:]
log = pd.read_csv(f"{run}/stage1/log.csv")
print(log.tail(5).to_string())
try:
    print(pd.read_csv(f"{run}/stage1/val.csv").to_string())
except Exception as exc:
    print("no val.csv:", exc)
EOF
    ;;
  bench)
    step bench_stage1 150 $py benchmarks/bench_stage1.py --device cuda --matrix core --no-isolate \
      --no-max-batch --steps 40 --warmup 10 --repeats 3 --out "$out/stage1_gpu.json"
    step compile 120 $py benchmarks/bench_stage1.py --device cuda --preset market --dtype bf16 \
      --channels-last --compile --steps 40 --warmup 10 --repeats 3 --no-isolate \
      --out "$out/stage1_gpu_compile.json"
    ;;
  profile)
    step profile 80 $py benchmarks/bench_stage1.py --device cuda --preset market --dtype bf16 \
      --channels-last --steps 40 --warmup 10 --repeats 1 --profile 10 --no-isolate \
      --out "$out/stage1_gpu_profile.json"
    ;;
  rest)
    step max_batch 130 $py benchmarks/bench_stage1.py --device cuda --only-max-batch \
      --max-batch-dtypes bf16 --max-batch-precision 4 --out "$out/stage1_gpu_max_batch.json"
    step stage2 60 $py benchmarks/bench_stage2.py --device cuda --mode bank --steps 20 \
      --out "$out/stage2_gpu.json"
    ;;
  rest-io)
    step data 120 $py benchmarks/bench_data.py --device cuda --out "$out/data_gpu.json"
    step sampling 60 $py benchmarks/bench_sampling.py --out "$out/sampling_gpu.json"
    ;;
esac
# Pack after every phase: if the device call itself runs out of time, what finished still comes back.
tar -czf "$out_final/gpu_results.tar.gz" -C "$out" .
done
nvidia-smi --query-gpu=name,temperature.gpu,clocks.sm,power.draw --format=csv,noheader
ls -la "$out"
