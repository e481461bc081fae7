package evaluate

import (
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteHTML writes a self-contained HTML page (inline CSS, no scripts or
// external assets, UTF-8) with the summary, the per-intent table, a
// colour-scaled confusion matrix and the most confused pairs. In the matrix
// rows are gold labels and columns predictions; each cell shows its count
// and is shaded by its share of the gold row, green on the diagonal
// (correct, also outlined) and red elsewhere. All labels are HTML-escaped.
func (r Report) WriteHTML(w io.Writer) error {
	return htmlReport.Execute(w, r.htmlView())
}

type htmlView struct {
	Summary   []htmlKV
	PerIntent []htmlIntent
	Labels    []string
	Rows      []htmlRow
	Confused  []Confusion
}

type htmlKV struct{ Key, Value string }

type htmlIntent struct {
	Label, Precision, Recall, F1 string
	Support                      int
}

type htmlRow struct {
	Label string
	Total int
	Cells []htmlCell
}

type htmlCell struct {
	Gold, Pred string
	Count      int
	Share      string // of the gold row, as a percentage
	Class      string // "diag" on the diagonal, "zero" when empty, "dark" on dark shades
	Hue        int    // 140 green on the diagonal, 0 red elsewhere
	Light      int    // HSL lightness, 100 for an empty cell down to 40
}

func (r Report) htmlView() htmlView {
	acc, inScopeAcc, macroF1, oosRecall, oosPrecision := r.figures()
	v := htmlView{
		Summary: []htmlKV{
			{"examples", strconv.Itoa(r.N)},
			{"accuracy", acc},
			{"in-scope accuracy", inScopeAcc},
			{"macro-F1", macroF1},
			{"oos recall", oosRecall},
			{"oos precision", oosPrecision},
			{"latency p50", msText(r.Latency.P50) + " ms"},
			{"latency p90", msText(r.Latency.P90) + " ms"},
			{"latency p99", msText(r.Latency.P99) + " ms"},
			{"latency mean", msText(r.Latency.Mean) + " ms"},
			{"latency max", msText(r.Latency.Max) + " ms"},
		},
		Labels:   r.Labels,
		Confused: r.Confused,
	}
	for _, s := range r.PerIntent {
		v.PerIntent = append(v.PerIntent, htmlIntent{
			Label: s.Label, Precision: pct(s.Precision), Recall: pct(s.Recall), F1: pct(s.F1), Support: s.Support,
		})
	}
	for i, gold := range r.Labels {
		var counts []int
		if i < len(r.Confusion) {
			counts = r.Confusion[i]
		}
		total := 0
		for _, n := range counts {
			total += n
		}
		row := htmlRow{Label: gold, Total: total}
		for j, pred := range r.Labels {
			n := 0
			if j < len(counts) {
				n = counts[j]
			}
			share := ratio(n, total)
			light := 100 - int(math.Round(60*share))
			hue := 0
			if i == j {
				hue = 140
			}
			var class []string
			if i == j {
				class = append(class, "diag")
			}
			switch {
			case n == 0:
				class = append(class, "zero")
			case light < 65:
				class = append(class, "dark")
			}
			row.Cells = append(row.Cells, htmlCell{
				Gold: gold, Pred: pred, Count: n, Share: pct(share),
				Class: strings.Join(class, " "), Hue: hue, Light: light,
			})
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

// The page is kept well-formed XML (closed void elements, no raw '<' or '&'
// in the style sheet) so tests can check its structure with encoding/xml.
var htmlReport = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="zh">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>kefu intent evaluation</title>
<style>
body { font-family: system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; }
h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; }
th, td { padding: 0.3em 0.7em; border: 1px solid #ddd; }
th { background: #f5f5f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary th { text-align: left; }
table.matrix td { text-align: center; min-width: 2.5em; font-variant-numeric: tabular-nums; }
table.matrix td.zero { color: #bbb; }
table.matrix td.diag { outline: 2px solid #2a7a3b; outline-offset: -2px; font-weight: 600; }
table.matrix td.dark { color: #fff; }
table.matrix th.gold { text-align: left; }
p.note { color: #666; font-size: 0.9em; }
</style>
</head>
<body>
<h1>Intent evaluation</h1>

<h2>Summary</h2>
<table class="summary" id="summary">
<tbody>
{{- range .Summary}}
<tr><th>{{.Key}}</th><td class="num">{{.Value}}</td></tr>
{{- end}}
</tbody>
</table>
<p class="note">Accuracy and macro-F1 treat oos as a label; macro-F1 averages over every gold or predicted label. n/a: no examples to measure.</p>

<h2>Per intent</h2>
<table class="intents" id="per-intent">
<thead>
<tr><th>intent</th><th>precision</th><th>recall</th><th>f1</th><th>support</th></tr>
</thead>
<tbody>
{{- range .PerIntent}}
<tr><td>{{.Label}}</td><td class="num">{{.Precision}}</td><td class="num">{{.Recall}}</td><td class="num">{{.F1}}</td><td class="num">{{.Support}}</td></tr>
{{- end}}
</tbody>
</table>

<h2>Confusion matrix</h2>
<p class="note">Rows are gold labels, columns predictions. Shade is the share of the gold row: green on the diagonal (correct), red elsewhere.</p>
<table class="matrix" id="confusion">
<thead>
<tr><th>gold \ predicted</th>{{range .Labels}}<th>{{.}}</th>{{end}}<th>total</th></tr>
</thead>
<tbody>
{{- range .Rows}}
<tr><th class="gold">{{.Label}}</th>
{{- range .Cells}}<td{{if .Class}} class="{{.Class}}"{{end}} style="background-color: hsl({{.Hue}}, 70%, {{.Light}}%)" title="{{.Gold}} → {{.Pred}}: {{.Count}} ({{.Share}})">{{.Count}}</td>{{end -}}
<td class="num">{{.Total}}</td></tr>
{{- end}}
</tbody>
</table>

<h2>Most confused</h2>
{{- if .Confused}}
<table class="confused" id="confused">
<thead>
<tr><th>gold</th><th>predicted</th><th>count</th></tr>
</thead>
<tbody>
{{- range .Confused}}
<tr><td>{{.Gold}}</td><td>{{.Pred}}</td><td class="num">{{.Count}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>none</p>
{{- end}}
</body>
</html>
`))
