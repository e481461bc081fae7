#!/usr/bin/env bash
# Measures classification under 32 concurrent callers against one caller,
# interleaving the two benchmarks so that a noisy, shared machine affects
# both alike, and prints medians over N pairs (default 7). MODEL, when
# given, is a model folder to run instead of the demo bot's.
#
#   scripts/bench-classify.sh [N] [MODEL]
set -euo pipefail
n=${1:-7}
if [ -n "${2:-}" ]; then
	KEFU_BENCH_MODEL=$(cd "$2" && pwd)
	export KEFU_BENCH_MODEL
fi
bin=$(mktemp)
trap 'rm -f "$bin" "$bin.out" "$bin.a" "$bin.b"' EXIT
go test -c -o "$bin" ./models/onnx
# Each pair also runs two one-caller processes side by side: what the two
# cores give two calls at a time with nothing shared in between, the
# baseline for the 32-caller numbers.
one() { "$bin" -test.run '^$' -test.bench 'Classify$' -test.benchtime 2s | grep '^Benchmark'; }
for _ in $(seq "$n"); do
	(
		cd models/onnx
		one
		"$bin" -test.run '^$' -test.bench 'Classify32$' -test.benchtime 2s | grep '^Benchmark'
		one >"$bin.a" &
		one >"$bin.b"
		wait
		sed 's/^/Twin/' "$bin.a" "$bin.b"
	)
done | tee "$bin.out"
python3 - "$bin.out" <<'PY'
import re, statistics as st, sys
lines = open(sys.argv[1]).read().splitlines()
one = [l for l in lines if l.startswith("BenchmarkClassify-")]
many = [l for l in lines if l.startswith("BenchmarkClassify32")]
def v(line, unit):
    return float(re.search(r"([\d.]+)\s+" + re.escape(unit) + r"(\s|$)", line).group(1))
med = lambda xs: st.median(list(xs))
def pre(ls):
    try:
        return ", %.2f preemptions per call" % med(v(l, "preempt/op") for l in ls)
    except AttributeError:  # not reported off Linux
        return ""
print("pairs: %d" % len(one))
print("one caller:   %.0f ns/op, p50 %.3f ms, p99 %.3f ms%s" % (med(v(l, "ns/op") for l in one), med(v(l, "p50-ms") for l in one), med(v(l, "p99-ms") for l in one), pre(one)))
print("32 callers:   %.0f ns/op, end to end p50 %.2f ms p99 %.2f ms; holding a slot p50 %.3f ms p99 %.3f ms%s" % (
    med(v(l, "ns/op") for l in many), med(v(l, "p50-ms") for l in many), med(v(l, "p99-ms") for l in many),
    med(v(l, "held-p50-ms") for l in many), med(v(l, "held-p99-ms") for l in many), pre(many)))
twin = [l for l in lines if l.startswith("TwinBenchmarkClassify-")]
print("throughput ratio (32 callers / one): median %.2f" % med(v(a, "ns/op") / v(b, "ns/op") for a, b in zip(one, many)))
print("held p99 / one-caller p50: median %.2f" % med(v(b, "held-p99-ms") / v(a, "p50-ms") for a, b in zip(one, many)))
if len(twin) == 2 * len(one):
    pairs = list(zip(one, twin[0::2], twin[1::2]))
    print("two one-caller processes side by side: throughput ratio %.2f, p50 %.3f ms, each one's p99 / one-caller p50 %.2f%s" % (
        med(v(a, "ns/op") * (1 / v(x, "ns/op") + 1 / v(y, "ns/op")) for a, x, y in pairs),
        med(v(l, "p50-ms") for l in twin),
        med(v(t, "p99-ms") / v(a, "p50-ms") for a, x, y in pairs for t in (x, y)), pre(twin)))
PY
