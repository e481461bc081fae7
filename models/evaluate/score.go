package evaluate

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

// Result is the outcome of classifying one [Example].
type Result struct {
	Gold       string        // the example's labelled intent, OOS for out of scope
	Pred       string        // the predicted intent, OOS when rejected as out of scope
	Confidence float32       // the classifier's confidence; carried for callers, not scored
	Latency    time.Duration // time taken to classify the text
}

// Report is the scored evaluation. All ratios are fractions in [0, 1]; a
// ratio whose denominator is zero is 0, never NaN. See the package
// documentation for the exact definitions.
type Report struct {
	N               int     `json:"n"`
	Accuracy        float64 `json:"accuracy"`
	InScopeAccuracy float64 `json:"in_scope_accuracy"`
	// MacroF1 is the mean F1 over every label in gold ∪ predicted, oos included.
	MacroF1   float64 `json:"macro_f1"`
	OOSRecall float64 `json:"oos_recall"`
	// OOSPrecision is 0 when nothing was predicted oos.
	OOSPrecision float64 `json:"oos_precision"`
	// PerIntent has one entry per label, in the order of Labels.
	PerIntent []IntentScore `json:"per_intent"`
	// Confused lists at most [MaxConfused] pairs, most frequent first.
	Confused []Confusion `json:"confused"`
	Latency  Latency     `json:"latency"`
	// Labels is the sorted union of gold and predicted labels.
	Labels []string `json:"labels"`
	// Confusion[i][j] counts examples with gold Labels[i] predicted Labels[j].
	Confusion [][]int `json:"confusion"`
}

// IntentScore holds the one-vs-rest scores of one label.
type IntentScore struct {
	Label     string  `json:"label"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"` // number of examples with this gold label
}

// Confusion counts the examples of one gold label predicted as another.
type Confusion struct {
	Gold  string `json:"gold"`
	Pred  string `json:"pred"`
	Count int    `json:"count"`
}

// Latency summarises classification latencies in milliseconds. Percentiles
// use the nearest-rank method: the smallest latency such that at least p% of
// the latencies are less than or equal to it. All are 0 without results.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Mean float64 `json:"mean_ms"`
	Max  float64 `json:"max_ms"`
}

// MaxConfused is the number of most-confused pairs a [Report] keeps.
const MaxConfused = 10

// Score computes the report for results. It never fails: an empty input
// gives a report of zeros with empty, non-nil slices.
func Score(results []Result) Report {
	labels := labelSet(results)
	index := make(map[string]int, len(labels))
	for i, l := range labels {
		index[l] = i
	}
	matrix := make([][]int, len(labels))
	for i := range matrix {
		matrix[i] = make([]int, len(labels))
	}
	correct, inScope, inScopeCorrect := 0, 0, 0
	for _, r := range results {
		matrix[index[r.Gold]][index[r.Pred]]++
		if r.Gold == r.Pred {
			correct++
		}
		if r.Gold != OOS {
			inScope++
			if r.Gold == r.Pred {
				inScopeCorrect++
			}
		}
	}

	rep := Report{
		N:               len(results),
		Accuracy:        ratio(correct, len(results)),
		InScopeAccuracy: ratio(inScopeCorrect, inScope),
		PerIntent:       make([]IntentScore, len(labels)),
		Confused:        confusedPairs(labels, matrix, MaxConfused),
		Latency:         latencyStats(results),
		Labels:          labels,
		Confusion:       matrix,
	}
	sumF1 := 0.0
	for i, l := range labels {
		tp, support, predicted := matrix[i][i], rowSum(matrix, i), colSum(matrix, i)
		p, r := ratio(tp, predicted), ratio(tp, support)
		f1 := 0.0
		if p+r > 0 {
			f1 = 2 * p * r / (p + r)
		}
		rep.PerIntent[i] = IntentScore{Label: l, Precision: p, Recall: r, F1: f1, Support: support}
		sumF1 += f1
	}
	if len(labels) > 0 {
		rep.MacroF1 = sumF1 / float64(len(labels))
	}
	if i, ok := index[OOS]; ok {
		rep.OOSRecall = ratio(matrix[i][i], rowSum(matrix, i))
		rep.OOSPrecision = ratio(matrix[i][i], colSum(matrix, i))
	}
	return rep
}

// labelSet returns the sorted union of gold and predicted labels.
func labelSet(results []Result) []string {
	seen := make(map[string]bool)
	labels := []string{}
	for _, r := range results {
		for _, l := range [2]string{r.Gold, r.Pred} {
			if !seen[l] {
				seen[l] = true
				labels = append(labels, l)
			}
		}
	}
	sort.Strings(labels)
	return labels
}

// confusedPairs returns the off-diagonal cells with a non-zero count, most
// frequent first, ties broken by gold then predicted label, at most limit.
func confusedPairs(labels []string, matrix [][]int, limit int) []Confusion {
	pairs := []Confusion{}
	for i, row := range matrix {
		for j, n := range row {
			if i != j && n > 0 {
				pairs = append(pairs, Confusion{Gold: labels[i], Pred: labels[j], Count: n})
			}
		}
	}
	slices.SortFunc(pairs, func(a, b Confusion) int {
		return cmp.Or(
			cmp.Compare(b.Count, a.Count),
			cmp.Compare(a.Gold, b.Gold),
			cmp.Compare(a.Pred, b.Pred),
		)
	})
	if len(pairs) > limit {
		pairs = pairs[:limit]
	}
	return pairs
}

func latencyStats(results []Result) Latency {
	if len(results) == 0 {
		return Latency{}
	}
	d := make([]time.Duration, len(results))
	var sum time.Duration
	for i, r := range results {
		d[i] = r.Latency
		sum += r.Latency
	}
	slices.Sort(d)
	return Latency{
		P50:  ms(NearestRank(d, 50)),
		P90:  ms(NearestRank(d, 90)),
		P99:  ms(NearestRank(d, 99)),
		Mean: ms(sum / time.Duration(len(d))), // truncated to whole nanoseconds
		Max:  ms(d[len(d)-1]),
	}
}

// NearestRank returns the p-th percentile (0 < p <= 100) of the sorted
// slice: the element at 1-based rank ceil(p/100 * n); 0 when it is empty.
func NearestRank(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil in integers, no float rounding
	rank = max(rank, 1)
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio is a/b, or 0 when b is 0.
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func rowSum(m [][]int, i int) int {
	s := 0
	for _, n := range m[i] {
		s += n
	}
	return s
}

func colSum(m [][]int, j int) int {
	s := 0
	for _, row := range m {
		s += row[j]
	}
	return s
}
