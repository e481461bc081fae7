package evaluate

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// res builds results from "gold>pred" pairs, with zero latency.
func res(pairs ...string) []Result {
	out := make([]Result, len(pairs))
	for i, p := range pairs {
		gold, pred, ok := strings.Cut(p, ">")
		if !ok {
			panic("bad pair " + p)
		}
		out[i] = Result{Gold: gold, Pred: pred}
	}
	return out
}

const eps = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) < eps }

// checkReport compares everything but Latency, floats within eps.
func checkReport(t *testing.T, got, want Report) {
	t.Helper()
	if got.N != want.N {
		t.Errorf("N = %d, want %d", got.N, want.N)
	}
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"Accuracy", got.Accuracy, want.Accuracy},
		{"InScopeAccuracy", got.InScopeAccuracy, want.InScopeAccuracy},
		{"MacroF1", got.MacroF1, want.MacroF1},
		{"OOSRecall", got.OOSRecall, want.OOSRecall},
		{"OOSPrecision", got.OOSPrecision, want.OOSPrecision},
	} {
		if !near(f.got, f.want) {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	if !reflect.DeepEqual(got.Labels, want.Labels) {
		t.Errorf("Labels = %q, want %q", got.Labels, want.Labels)
	}
	if !reflect.DeepEqual(got.Confusion, want.Confusion) {
		t.Errorf("Confusion = %v, want %v", got.Confusion, want.Confusion)
	}
	if !reflect.DeepEqual(got.Confused, want.Confused) {
		t.Errorf("Confused = %+v, want %+v", got.Confused, want.Confused)
	}
	if len(got.PerIntent) != len(want.PerIntent) {
		t.Fatalf("PerIntent has %d entries, want %d: %+v", len(got.PerIntent), len(want.PerIntent), got.PerIntent)
	}
	for i, g := range got.PerIntent {
		w := want.PerIntent[i]
		if g.Label != w.Label || g.Support != w.Support ||
			!near(g.Precision, w.Precision) || !near(g.Recall, w.Recall) || !near(g.F1, w.F1) {
			t.Errorf("PerIntent[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name    string
		results []Result
		want    Report
	}{
		{
			name:    "perfect",
			results: res("a>a", "a>a", "b>b"),
			want: Report{
				N: 3, Accuracy: 1, InScopeAccuracy: 1, MacroF1: 1,
				PerIntent: []IntentScore{
					{Label: "a", Precision: 1, Recall: 1, F1: 1, Support: 2},
					{Label: "b", Precision: 1, Recall: 1, F1: 1, Support: 1},
				},
				Confused:  []Confusion{},
				Labels:    []string{"a", "b"},
				Confusion: [][]int{{2, 0}, {0, 1}},
			},
		},
		{
			name:    "all wrong",
			results: res("a>b", "b>a", "b>a"),
			want: Report{
				N: 3,
				PerIntent: []IntentScore{
					{Label: "a", Support: 1},
					{Label: "b", Support: 2},
				},
				Confused:  []Confusion{{"b", "a", 2}, {"a", "b", 1}},
				Labels:    []string{"a", "b"},
				Confusion: [][]int{{0, 1}, {2, 0}},
			},
		},
		{
			// a: tp 2, predicted 3, support 3 → p 2/3 r 2/3 f1 2/3
			// b: tp 1, predicted 2, support 3 → p 1/2 r 1/3 f1 2/5
			// oos: tp 2, predicted 4, support 3 → p 1/2 r 2/3 f1 4/7
			name: "with oos",
			results: res("a>a", "a>a", "a>b", "b>b", "b>oos", "b>oos",
				"oos>oos", "oos>a", "oos>oos"),
			want: Report{
				N: 9, Accuracy: 5.0 / 9, InScopeAccuracy: 3.0 / 6,
				MacroF1:   (2.0/3 + 2.0/5 + 4.0/7) / 3,
				OOSRecall: 2.0 / 3, OOSPrecision: 2.0 / 4,
				PerIntent: []IntentScore{
					{Label: "a", Precision: 2.0 / 3, Recall: 2.0 / 3, F1: 2.0 / 3, Support: 3},
					{Label: "b", Precision: 1.0 / 2, Recall: 1.0 / 3, F1: 2.0 / 5, Support: 3},
					{Label: "oos", Precision: 1.0 / 2, Recall: 2.0 / 3, F1: 4.0 / 7, Support: 3},
				},
				Confused:  []Confusion{{"b", "oos", 2}, {"a", "b", 1}, {"oos", "a", 1}},
				Labels:    []string{"a", "b", "oos"},
				Confusion: [][]int{{2, 1, 0}, {0, 1, 2}, {1, 0, 2}},
			},
		},
		{
			// a: p 1 r 1/2 f1 2/3; b: p 2/3 r 1 f1 4/5
			name:    "without oos",
			results: res("a>a", "a>b", "b>b", "b>b"),
			want: Report{
				N: 4, Accuracy: 3.0 / 4, InScopeAccuracy: 3.0 / 4,
				MacroF1: (2.0/3 + 4.0/5) / 2,
				PerIntent: []IntentScore{
					{Label: "a", Precision: 1, Recall: 1.0 / 2, F1: 2.0 / 3, Support: 2},
					{Label: "b", Precision: 2.0 / 3, Recall: 1, F1: 4.0 / 5, Support: 2},
				},
				Confused:  []Confusion{{"a", "b", 1}},
				Labels:    []string{"a", "b"},
				Confusion: [][]int{{1, 1}, {0, 2}},
			},
		},
		{
			// c is only ever predicted: support 0, precision 0, F1 0, and
			// it still counts in macro-F1.
			name:    "label only predicted",
			results: res("a>a", "a>c", "b>b"),
			want: Report{
				N: 3, Accuracy: 2.0 / 3, InScopeAccuracy: 2.0 / 3,
				MacroF1: (2.0/3 + 1 + 0) / 3,
				PerIntent: []IntentScore{
					{Label: "a", Precision: 1, Recall: 1.0 / 2, F1: 2.0 / 3, Support: 2},
					{Label: "b", Precision: 1, Recall: 1, F1: 1, Support: 1},
					{Label: "c", Support: 0},
				},
				Confused:  []Confusion{{"a", "c", 1}},
				Labels:    []string{"a", "b", "c"},
				Confusion: [][]int{{1, 0, 1}, {0, 1, 0}, {0, 0, 0}},
			},
		},
		{
			name:    "oos predicted, none gold",
			results: res("a>oos", "a>a"),
			want: Report{
				N: 2, Accuracy: 1.0 / 2, InScopeAccuracy: 1.0 / 2,
				MacroF1: (2.0 / 3) / 2,
				PerIntent: []IntentScore{
					{Label: "a", Precision: 1, Recall: 1.0 / 2, F1: 2.0 / 3, Support: 2},
					{Label: "oos"},
				},
				Confused:  []Confusion{{"a", "oos", 1}},
				Labels:    []string{"a", "oos"},
				Confusion: [][]int{{1, 1}, {0, 0}},
			},
		},
		{
			name:    "oos gold, never predicted",
			results: res("oos>a", "a>a"),
			want: Report{
				N: 2, Accuracy: 1.0 / 2, InScopeAccuracy: 1,
				MacroF1: (2.0 / 3) / 2,
				PerIntent: []IntentScore{
					{Label: "a", Precision: 1.0 / 2, Recall: 1, F1: 2.0 / 3, Support: 1},
					{Label: "oos", Support: 1},
				},
				Confused:  []Confusion{{"oos", "a", 1}},
				Labels:    []string{"a", "oos"},
				Confusion: [][]int{{1, 0}, {1, 0}},
			},
		},
		{
			name:    "only oos, all correct",
			results: res("oos>oos", "oos>oos"),
			want: Report{
				N: 2, Accuracy: 1, MacroF1: 1, OOSRecall: 1, OOSPrecision: 1,
				PerIntent: []IntentScore{{Label: "oos", Precision: 1, Recall: 1, F1: 1, Support: 2}},
				Confused:  []Confusion{},
				Labels:    []string{"oos"},
				Confusion: [][]int{{2}},
			},
		},
		{
			name:    "empty",
			results: nil,
			want: Report{
				PerIntent: []IntentScore{},
				Confused:  []Confusion{},
				Labels:    []string{},
				Confusion: [][]int{},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Score(tt.results)
			checkReport(t, got, tt.want)
			// No ratio may be NaN or out of range, or JSON encoding breaks.
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("json.Marshal: %v", err)
			}
			fracs := []float64{got.Accuracy, got.InScopeAccuracy, got.MacroF1, got.OOSRecall, got.OOSPrecision}
			for _, s := range got.PerIntent {
				fracs = append(fracs, s.Precision, s.Recall, s.F1)
			}
			for _, f := range fracs {
				if math.IsNaN(f) || f < 0 || f > 1 {
					t.Errorf("fraction %v outside [0, 1]", f)
				}
			}
		})
	}
}

func TestScoreDoesNotReorderInput(t *testing.T) {
	in := []Result{{Gold: "a", Pred: "a", Latency: 3}, {Gold: "b", Pred: "b", Latency: 1}}
	orig := slices.Clone(in)
	Score(in)
	if !reflect.DeepEqual(in, orig) {
		t.Errorf("Score modified its input: %v", in)
	}
}

func TestLatency(t *testing.T) {
	ms := func(v ...float64) []Result {
		out := make([]Result, len(v))
		for i, x := range v {
			out[i] = Result{Gold: "a", Pred: "a", Latency: time.Duration(x * float64(time.Millisecond))}
		}
		return out
	}
	var hundred []float64
	for i := 100; i >= 1; i-- { // descending, to exercise sorting
		hundred = append(hundred, float64(i))
	}
	tests := []struct {
		name    string
		results []Result
		want    Latency
	}{
		{"empty", nil, Latency{}},
		{"one", ms(5), Latency{P50: 5, P90: 5, P99: 5, Mean: 5, Max: 5}},
		// ranks: p50 ceil(1)=1, p90 ceil(1.8)=2, p99 ceil(1.98)=2
		{"two", ms(2, 1), Latency{P50: 1, P90: 2, P99: 2, Mean: 1.5, Max: 2}},
		// ranks: p50 ceil(1.5)=2, p90 ceil(2.7)=3
		{"three", ms(0.03, 0.01, 0.02), Latency{P50: 0.02, P90: 0.03, P99: 0.03, Mean: 0.02, Max: 0.03}},
		// ranks: p50 5, p90 9, p99 ceil(9.9)=10
		{"ten", ms(7, 3, 10, 1, 9, 2, 8, 4, 6, 5), Latency{P50: 5, P90: 9, P99: 10, Mean: 5.5, Max: 10}},
		{"hundred", ms(hundred...), Latency{P50: 50, P90: 90, P99: 99, Mean: 50.5, Max: 100}},
		// one outlier only shows in p99 and max when n is large enough
		{"outlier", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 100), Latency{P50: 1, P90: 1, P99: 100, Mean: 10.9, Max: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Score(tt.results).Latency
			const tol = 1e-9
			if math.Abs(got.P50-tt.want.P50) > tol || math.Abs(got.P90-tt.want.P90) > tol ||
				math.Abs(got.P99-tt.want.P99) > tol || math.Abs(got.Mean-tt.want.Mean) > tol ||
				math.Abs(got.Max-tt.want.Max) > tol {
				t.Errorf("Latency = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNearestRank(t *testing.T) {
	d := []time.Duration{10, 20, 30, 40, 50}
	tests := []struct {
		p    int
		want time.Duration
	}{
		{1, 10}, {20, 10}, {21, 20}, {40, 20}, {50, 30}, {60, 30}, {61, 40}, {80, 40}, {81, 50}, {99, 50}, {100, 50},
	}
	for _, tt := range tests {
		if got := NearestRank(d, tt.p); got != tt.want {
			t.Errorf("NearestRank(p=%d) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestConfusedOrdering(t *testing.T) {
	var results []Result
	add := func(gold, pred string, n int) {
		for range n {
			results = append(results, Result{Gold: gold, Pred: pred})
		}
	}
	add("x", "x", 50) // correct predictions never appear
	add("z", "a", 3)
	add("b", "y", 3)
	add("b", "c", 3)
	add("d", "e", 5)
	for i := range 9 { // nine single confusions, only some make the top 10
		add(fmt.Sprintf("g%d", i), "h", 1)
	}
	add("c", "b", 2)

	got := Score(results).Confused
	want := []Confusion{
		{"d", "e", 5},
		{"b", "c", 3}, {"b", "y", 3}, {"z", "a", 3},
		{"c", "b", 2},
		{"g0", "h", 1}, {"g1", "h", 1}, {"g2", "h", 1}, {"g3", "h", 1}, {"g4", "h", 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Confused =\n%+v\nwant\n%+v", got, want)
	}
	if len(got) != MaxConfused {
		t.Errorf("len(Confused) = %d, want %d", len(got), MaxConfused)
	}
}

func TestReadExamples(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Example
		wantErr string // exact message; "prefix…" matches a prefix
	}{
		{
			name: "valid with blank lines, CRLF and BOM",
			in:   "\ufeff{\"text\": \"我的快递到哪了\", \"intent\": \"物流查询\"}\r\n\r\n   \n{\"intent\":\"oos\",\"text\":\"今天天气\"}",
			want: []Example{{"我的快递到哪了", "物流查询"}, {"今天天气", "oos"}},
		},
		{
			name: "trailing newline",
			in:   `{"text":"a","intent":"b"}` + "\n",
			want: []Example{{"a", "b"}},
		},
		{
			name:    "bad JSON",
			in:      `{"text":"a","intent":"b"}` + "\n\n" + `{"text": "a", intent: "b"}`,
			wantErr: "test.jsonl:3: invalid JSON: …",
		},
		{
			name:    "truncated JSON",
			in:      `{"text":"a"`,
			wantErr: "test.jsonl:1: invalid JSON: …",
		},
		{
			name:    "missing intent",
			in:      `{"text":"a","intent":"b"}` + "\n" + `{"text":"c"}`,
			wantErr: `test.jsonl:2: missing "intent"`,
		},
		{
			name:    "null intent",
			in:      `{"text":"c","intent":null}`,
			wantErr: `test.jsonl:1: missing "intent"`,
		},
		{
			name:    "missing text",
			in:      `{"intent":"b"}`,
			wantErr: `test.jsonl:1: missing "text"`,
		},
		{
			name:    "unknown field",
			in:      "\n" + `{"text":"a","intent":"b","label":"c"}`,
			wantErr: `test.jsonl:2: unknown field "label"`,
		},
		{
			name:    "wrong case is unknown",
			in:      `{"Text":"a","intent":"b"}`,
			wantErr: `test.jsonl:1: unknown field "Text"`,
		},
		{
			name:    "empty text",
			in:      `{"text":"","intent":"b"}`,
			wantErr: `test.jsonl:1: empty "text"`,
		},
		{
			name:    "blank text",
			in:      `{"text":"a","intent":"b"}` + "\n" + `{"text":" \t","intent":"b"}`,
			wantErr: `test.jsonl:2: empty "text"`,
		},
		{
			name:    "empty intent",
			in:      `{"text":"a","intent":""}`,
			wantErr: `test.jsonl:1: empty "intent"`,
		},
		{
			name:    "intent not a string",
			in:      `{"text":"a","intent":3}`,
			wantErr: `test.jsonl:1: "intent" must be a string`,
		},
		{
			name:    "not an object",
			in:      `["a","b"]`,
			wantErr: "test.jsonl:1: want a JSON object, not array",
		},
		{
			name:    "two objects on a line",
			in:      `{"text":"a","intent":"b"} {"text":"c","intent":"d"}`,
			wantErr: "test.jsonl:1: unexpected data after the JSON object",
		},
		{
			name:    "no examples",
			in:      "\n  \n",
			wantErr: "test.jsonl: no examples",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadExamples(strings.NewReader(tt.in), "test.jsonl")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ReadExamples: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("ReadExamples = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadExamples = %+v, want error %q", got, tt.wantErr)
			}
			if prefix, ok := strings.CutSuffix(tt.wantErr, "…"); ok {
				if !strings.HasPrefix(err.Error(), prefix) || len(err.Error()) == len(prefix) {
					t.Errorf("error = %q, want %q followed by a reason", err, prefix)
				}
			} else if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
			if got != nil {
				t.Errorf("examples = %+v alongside an error, want nil", got)
			}
		})
	}
}

func TestReadExamplesLongLine(t *testing.T) {
	long := strings.Repeat("长", 100_000) // 300 kB, past bufio.Scanner's default
	in := fmt.Sprintf(`{"text":%q,"intent":"x"}`, long)
	got, err := ReadExamples(strings.NewReader(in), "big.jsonl")
	if err != nil || len(got) != 1 || got[0].Text != long {
		t.Fatalf("ReadExamples: %d examples, err %v", len(got), err)
	}
}

type failingReader struct{ data io.Reader }

func (r failingReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if err == io.EOF {
		return n, errors.New("disk on fire")
	}
	return n, err
}

func TestReadExamplesReadError(t *testing.T) {
	in := failingReader{strings.NewReader(`{"text":"a","intent":"b"}` + "\n" + `{"text":"c",`)}
	_, err := ReadExamples(in, "x.jsonl")
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.HasPrefix(err.Error(), "x.jsonl:2:") {
		t.Errorf("error = %v, want x.jsonl:2: … disk on fire", err)
	}
}

func TestReadExamplesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "test.jsonl")
	if err := os.WriteFile(path, []byte("{\"text\":\"退货\",\"intent\":\"退换货\"}\n{\"text\":\"x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadExamplesFile(path)
	if want := path + `:2: missing "intent"`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}

	if err := os.WriteFile(path, []byte("{\"text\":\"退货\",\"intent\":\"退换货\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadExamplesFile(path)
	if err != nil || !reflect.DeepEqual(got, []Example{{"退货", "退换货"}}) {
		t.Errorf("ReadExamplesFile = %+v, %v", got, err)
	}

	if _, err := ReadExamplesFile(filepath.Join(dir, "missing.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error = %v, want ErrNotExist", err)
	}
}

func TestJSONKeys(t *testing.T) {
	r := Score([]Result{
		{Gold: "物流查询", Pred: "物流查询", Latency: time.Millisecond},
		{Gold: "oos", Pred: "物流查询", Latency: 2 * time.Millisecond},
	})
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	keysOf := func(v any) []string {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v is not an object", v)
		}
		var ks []string
		for k := range obj {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	sorted := func(ks ...string) []string { slices.Sort(ks); return ks }

	checks := []struct {
		what string
		v    any
		want []string
	}{
		{"report", m, sorted("n", "accuracy", "in_scope_accuracy", "macro_f1", "oos_recall", "oos_precision",
			"per_intent", "confused", "latency", "labels", "confusion")},
		{"per_intent[0]", m["per_intent"].([]any)[0], sorted("label", "precision", "recall", "f1", "support")},
		{"confused[0]", m["confused"].([]any)[0], sorted("gold", "pred", "count")},
		{"latency", m["latency"], sorted("p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")},
	}
	for _, c := range checks {
		if got := keysOf(c.v); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s keys = %q, want %q", c.what, got, c.want)
		}
	}
	if got := m["latency"].(map[string]any)["p90_ms"]; got != 2.0 {
		t.Errorf("latency.p90_ms = %v, want 2", got)
	}
	if got := m["confusion"]; !reflect.DeepEqual(got, []any{[]any{0.0, 1.0}, []any{0.0, 1.0}}) {
		t.Errorf("confusion = %v", got)
	}

	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, r)
	}
}

func TestEmptyReportJSON(t *testing.T) {
	r := Score(nil)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "NaN") || strings.Contains(out, "null") {
		t.Errorf("empty report JSON has NaN or null:\n%s", out)
	}
	compact, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"n":0,"accuracy":0,"in_scope_accuracy":0,"macro_f1":0,"oos_recall":0,"oos_precision":0,` +
		`"per_intent":[],"confused":[],"latency":{"p50_ms":0,"p90_ms":0,"p99_ms":0,"mean_ms":0,"max_ms":0},` +
		`"labels":[],"confusion":[]}`
	if string(compact) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", compact, want)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, r)
	}
	// The text and HTML renderers cope too.
	var text, page bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "accuracy            n/a\n") || strings.Contains(text.String(), "NaN") {
		t.Errorf("empty text report:\n%s", text.String())
	}
}

func TestWriteText(t *testing.T) {
	// Labels sort as oos < 催发货 < 发货时间 < 物流查询 (code point order).
	r := Score([]Result{
		{Gold: "物流查询", Pred: "物流查询", Latency: 1 * time.Millisecond},
		{Gold: "发货时间", Pred: "催发货", Latency: 2 * time.Millisecond},
		{Gold: "发货时间", Pred: "发货时间", Latency: 3 * time.Millisecond},
		{Gold: "oos", Pred: "oos", Latency: 4 * time.Millisecond},
	})
	// Hand-computed: accuracy 3/4; in scope 2/3; macro-F1 (1+0+2/3+1)/4;
	// nearest-rank p50 = 2nd of 4, p90 and p99 = 4th.
	want := `examples            4
accuracy            75.0%
in-scope accuracy   66.7%
macro-F1            66.7%
oos recall          100.0%   precision 100.0%
latency             p50 2.00 ms  p90 4.00 ms  p99 4.00 ms  mean 2.50 ms  max 4.00 ms

intent    precision  recall      f1  support
oos          100.0%  100.0%  100.0%        1
催发货         0.0%    0.0%    0.0%        0
发货时间     100.0%   50.0%   66.7%        2
物流查询     100.0%  100.0%  100.0%        1

most confused (gold → predicted)
  发货时间 → 催发货   1
`
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != want {
		t.Errorf("WriteText =\n%s\nwant\n%s", got, want)
	}
}

func TestWriteTextNA(t *testing.T) {
	tests := []struct {
		name    string
		results []Result
		want    []string
	}{
		{"no oos", res("a>a", "a>b"), []string{"oos recall          n/a     precision n/a\n", "in-scope accuracy   50.0%\n"}},
		{"oos predicted only", res("a>oos", "a>a"), []string{"oos recall          n/a     precision 0.0%\n"}},
		{"oos never predicted", res("oos>a", "a>a"), []string{"oos recall          0.0%    precision n/a\n"}},
		{"only oos", res("oos>oos"), []string{"in-scope accuracy   n/a\n", "oos recall          100.0%   precision 100.0%\n"}},
		{"no confusion", res("a>a"), []string{"most confused (gold → predicted)\n  none\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Score(tt.results).WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("text report lacks %q:\n%s", w, buf.String())
				}
			}
		})
	}
}

func TestWriteTextAlignsWideLabels(t *testing.T) {
	r := Score(res("退换货>退换货", "ab>ab", "ｆｕｌｌ>ab", "很长很长的意图名称>退换货", "x>x"))
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "intent ") })
	if start < 0 {
		t.Fatalf("no per-intent header in\n%s", buf.String())
	}
	table := lines[start : start+1+len(r.Labels)]
	// Every column is padded and the last right-aligned, so all rows span
	// the same number of terminal cells, and "precision" ends where the
	// percentages end.
	w := displayWidth(table[0])
	for _, l := range table[1:] {
		if displayWidth(l) != w {
			t.Errorf("row %q is %d cells wide, header %d", l, displayWidth(l), w)
		}
	}
	col := displayWidth(table[0][:strings.Index(table[0], "precision")+len("precision")])
	for _, l := range table[1:] {
		i := strings.Index(l, "%")
		if displayWidth(l[:i+1]) != col {
			t.Errorf("row %q: precision ends at cell %d, want %d", l, displayWidth(l[:i+1]), col)
		}
	}
}

func TestDisplayWidth(t *testing.T) {
	tests := []struct {
		s    string
		want int
	}{
		{"", 0},
		{"oos", 3},
		{"物流查询", 8},
		{"a物b", 4},
		{"ｆｕｌｌ", 8},    // fullwidth Latin
		{"ｶﾅ", 2},      // halfwidth katakana
		{"e\u0301", 1}, // combining acute accent
		{"→", 1},
		{"a\u200bb", 2}, // zero-width space
	}
	for _, tt := range tests {
		if got := displayWidth(tt.s); got != tt.want {
			t.Errorf("displayWidth(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

// htmlTables parses page as XML (it is written to be well-formed) and returns,
// for each table id, its body rows as lists of cells, each cell its text and
// class attribute, plus the number of header rows.
type htmlCellInfo struct{ text, class, style string }

func htmlTables(t *testing.T, page string) (body map[string][][]htmlCellInfo, head map[string]int) {
	t.Helper()
	body, head = map[string][][]htmlCellInfo{}, map[string]int{}
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict = true
	dec.Entity = xml.HTMLEntity
	var table, section string
	var cell *htmlCellInfo
	attr := func(se xml.StartElement, name string) string {
		for _, a := range se.Attr {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("HTML is not well-formed: %v\n%s", err, page)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			switch tok.Name.Local {
			case "table":
				table = attr(tok, "id")
			case "thead", "tbody":
				section = tok.Name.Local
			case "tr":
				if section == "thead" {
					head[table]++
				} else {
					body[table] = append(body[table], nil)
				}
			case "td", "th":
				if section == "tbody" {
					cell = &htmlCellInfo{class: attr(tok, "class"), style: attr(tok, "style")}
				}
			}
		case xml.CharData:
			if cell != nil {
				cell.text += string(tok)
			}
		case xml.EndElement:
			if (tok.Name.Local == "td" || tok.Name.Local == "th") && cell != nil {
				rows := body[table]
				rows[len(rows)-1] = append(rows[len(rows)-1], *cell)
				cell = nil
			}
		}
	}
	return body, head
}

func TestWriteHTML(t *testing.T) {
	r := Score([]Result{
		{Gold: "物流查询", Pred: "物流查询"}, {Gold: "物流查询", Pred: "物流查询"},
		{Gold: "物流查询", Pred: "物流查询"}, {Gold: "物流查询", Pred: "<script>"},
		{Gold: "<script>", Pred: "oos"}, {Gold: "oos", Pred: "oos"},
		{Gold: "oos", Pred: "催发货"}, {Gold: `a"&b`, Pred: "物流查询"},
	})
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()

	for _, want := range []string{`<meta charset="utf-8"/>`, "&lt;script&gt;", "<table"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://", "src=", "<link", "NaN"} {
		if strings.Contains(page, bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}

	body, head := htmlTables(t, page)
	n := len(r.Labels)
	if n != 5 {
		t.Fatalf("labels = %q", r.Labels)
	}

	// One per-intent row per label, in label order, labels unescaped by the parser.
	intents := body["per-intent"]
	if head["per-intent"] != 1 || len(intents) != n {
		t.Fatalf("per-intent table: %d header rows, %d body rows; want 1, %d", head["per-intent"], len(intents), n)
	}
	for i, row := range intents {
		if len(row) != 5 || row[0].text != r.Labels[i] {
			t.Errorf("per-intent row %d = %+v, want label %q and 5 cells", i, row, r.Labels[i])
		}
	}
	if got := intents[slices.Index(r.Labels, "物流查询")]; got[2].text != "75.0%" || got[4].text != "4" {
		t.Errorf("物流查询 row = %+v, want recall 75.0%%, support 4", got)
	}

	// The confusion matrix: rows gold, columns predicted, counts, diagonal marked.
	matrix := body["confusion"]
	if head["confusion"] != 1 || len(matrix) != n {
		t.Fatalf("confusion table: %d header rows, %d body rows; want 1, %d", head["confusion"], len(matrix), n)
	}
	for i, row := range matrix {
		if len(row) != n+2 || row[0].text != r.Labels[i] {
			t.Fatalf("matrix row %d = %+v, want label %q and %d cells", i, row, r.Labels[i], n+2)
		}
		total := 0
		for j, c := range row[1 : n+1] {
			if c.text != fmt.Sprint(r.Confusion[i][j]) {
				t.Errorf("cell (%s, %s) = %q, want %d", r.Labels[i], r.Labels[j], c.text, r.Confusion[i][j])
			}
			if diag := strings.Contains(c.class, "diag"); diag != (i == j) {
				t.Errorf("cell (%s, %s) class %q: diagonal marking wrong", r.Labels[i], r.Labels[j], c.class)
			}
			total += r.Confusion[i][j]
		}
		if row[n+1].text != fmt.Sprint(total) {
			t.Errorf("row %s total = %q, want %d", r.Labels[i], row[n+1].text, total)
		}
	}
	// Colour scale: 物流查询 got 3 of 4 right (green, darker than the 1 of 4
	// predicted <script>, which is red); empty cells are white.
	row := matrix[slices.Index(r.Labels, "物流查询")]
	diag, off := row[1+slices.Index(r.Labels, "物流查询")], row[1+slices.Index(r.Labels, "<script>")]
	if diag.style != "background-color: hsl(140, 70%, 55%)" || off.style != "background-color: hsl(0, 70%, 85%)" {
		t.Errorf("styles: diagonal %q, off-diagonal %q", diag.style, off.style)
	}
	if empty := row[1+slices.Index(r.Labels, "oos")]; !strings.HasSuffix(empty.style, " 100%)") || !strings.Contains(empty.class, "zero") {
		t.Errorf("empty cell = %+v", empty)
	}

	if got := len(body["confused"]); got != len(r.Confused) {
		t.Errorf("confused table has %d rows, want %d", got, len(r.Confused))
	}
	if len(body["summary"]) == 0 {
		t.Error("no summary table")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWritersReportErrors(t *testing.T) {
	r := Score(res("a>a"))
	for name, write := range map[string]func(io.Writer) error{
		"text": r.WriteText, "html": r.WriteHTML, "json": r.WriteJSON,
	} {
		if err := write(failingWriter{}); err == nil {
			t.Errorf("%s: no error from a failing writer", name)
		}
	}
}
