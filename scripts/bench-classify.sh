#!/usr/bin/env bash
# Measures classification under 32 concurrent callers against one caller,
# interleaving the two benchmarks so that a noisy, shared machine affects
# both alike, and prints medians over N pairs (default 7).
set -euo pipefail
n=${1:-7}
bin=$(mktemp)
trap 'rm -f "$bin" "$bin.out"' EXIT
go test -c -o "$bin" ./models/onnx
for _ in $(seq "$n"); do
	(cd models/onnx && "$bin" -test.run '^$' -test.bench 'Classify$' -test.benchtime 2s && "$bin" -test.run '^$' -test.bench 'Classify32$' -test.benchtime 2s) | grep '^Benchmark'
done | tee "$bin.out"
python3 - "$bin.out" <<'PY'
import re, statistics as st, sys
lines = open(sys.argv[1]).read().splitlines()
one = [l for l in lines if l.startswith("BenchmarkClassify-")]
many = [l for l in lines if l.startswith("BenchmarkClassify32")]
def v(line, unit):
    return float(re.search(r"([\d.]+)\s+" + re.escape(unit) + r"(\s|$)", line).group(1))
med = lambda xs: st.median(list(xs))
print("pairs: %d" % len(one))
print("one caller:   %.0f ns/op, p50 %.3f ms, p99 %.3f ms" % (med(v(l, "ns/op") for l in one), med(v(l, "p50-ms") for l in one), med(v(l, "p99-ms") for l in one)))
print("32 callers:   %.0f ns/op, end to end p50 %.2f ms p99 %.2f ms; holding a slot p50 %.3f ms p99 %.3f ms" % (
    med(v(l, "ns/op") for l in many), med(v(l, "p50-ms") for l in many), med(v(l, "p99-ms") for l in many),
    med(v(l, "held-p50-ms") for l in many), med(v(l, "held-p99-ms") for l in many)))
print("throughput ratio (32 callers / one): median %.2f" % med(v(a, "ns/op") / v(b, "ns/op") for a, b in zip(one, many)))
print("held p99 / one-caller p50: median %.2f" % med(v(b, "held-p99-ms") / v(a, "p50-ms") for a, b in zip(one, many)))
PY
