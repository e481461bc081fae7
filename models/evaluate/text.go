package evaluate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"golang.org/x/text/width"
)

// notApplicable is printed for a summary figure whose denominator is zero.
const notApplicable = "n/a"

// WriteJSON writes r as indented JSON followed by a newline.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes a human-readable report for a monospace terminal: the
// summary, the per-intent table and the most confused pairs. Ratios are
// percentages with one decimal; undefined summary figures read "n/a".
// Columns holding labels are padded by display width, so double-width
// (Chinese) labels line up.
func (r Report) WriteText(w io.Writer) error {
	var b bytes.Buffer

	// The summary keys are ASCII, which text/tabwriter measures correctly.
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	for _, row := range r.summary() {
		fmt.Fprintf(tw, "%s\t%s\n", row.Key, row.Text)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// tabwriter counts runes, not terminal cells, so the label tables are
	// padded here by display width.
	b.WriteString("\n")
	rows := [][]string{{"intent", "precision", "recall", "f1", "support"}}
	for _, s := range r.PerIntent {
		rows = append(rows, []string{s.Label, pct(s.Precision), pct(s.Recall), pct(s.F1), strconv.Itoa(s.Support)})
	}
	for _, line := range alignColumns(rows, "  ", []bool{false, true, true, true, true}) {
		b.WriteString(line)
		b.WriteString("\n")
	}

	b.WriteString("\nmost confused (gold → predicted)\n")
	if len(r.Confused) == 0 {
		b.WriteString("  none\n")
	}
	rows = rows[:0]
	for _, c := range r.Confused {
		rows = append(rows, []string{c.Gold, "→", c.Pred, "  " + strconv.Itoa(c.Count)})
	}
	for _, line := range alignColumns(rows, " ", []bool{false, false, false, true}) {
		b.WriteString("  ")
		b.WriteString(line)
		b.WriteString("\n")
	}

	_, err := w.Write(b.Bytes())
	return err
}

// summaryRow is one line of the text summary.
type summaryRow struct {
	Key  string
	Text string
}

// counts derives, from the confusion matrix, how many examples are gold oos,
// how many were predicted oos, and how many are in scope. It tolerates a
// hand-built or decoded Report whose matrix does not match its labels.
func (r Report) counts() (goldOOS, predOOS, inScope int) {
	for i, l := range r.Labels {
		if l != OOS {
			continue
		}
		for gi, row := range r.Confusion {
			for pj, n := range row {
				if gi == i {
					goldOOS += n
				}
				if pj == i {
					predOOS += n
				}
			}
		}
	}
	return goldOOS, predOOS, r.N - goldOOS
}

// figures returns the formatted summary figures shared by text and HTML.
func (r Report) figures() (acc, inScopeAcc, macroF1, oosRecall, oosPrecision string) {
	goldOOS, predOOS, inScope := r.counts()
	return pctOrNA(r.Accuracy, r.N > 0),
		pctOrNA(r.InScopeAccuracy, inScope > 0),
		pctOrNA(r.MacroF1, len(r.Labels) > 0),
		pctOrNA(r.OOSRecall, goldOOS > 0),
		pctOrNA(r.OOSPrecision, predOOS > 0)
}

func (r Report) summary() []summaryRow {
	acc, inScopeAcc, macroF1, oosRecall, oosPrecision := r.figures()
	return []summaryRow{
		{"examples", strconv.Itoa(r.N)},
		{"accuracy", acc},
		{"in-scope accuracy", inScopeAcc},
		{"macro-F1", macroF1},
		{"oos recall", fmt.Sprintf("%-5s   precision %s", oosRecall, oosPrecision)},
		{"latency", fmt.Sprintf("p50 %s ms  p90 %s ms  p99 %s ms  mean %s ms  max %s ms",
			msText(r.Latency.P50), msText(r.Latency.P90), msText(r.Latency.P99),
			msText(r.Latency.Mean), msText(r.Latency.Max))},
	}
}

// pct formats a fraction as a percentage with one decimal: 0.9141 → "91.4%".
func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

func pctOrNA(f float64, defined bool) string {
	if !defined {
		return notApplicable
	}
	return pct(f)
}

func msText(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// alignColumns lays out rows as lines, padding every column to its widest
// cell by display width and joining columns with sep. Columns with right[j]
// set are right-aligned. Trailing blanks are trimmed.
func alignColumns(rows [][]string, sep string, right []bool) []string {
	var widths []int
	for _, row := range rows {
		for j, cell := range row {
			if j >= len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], displayWidth(cell))
		}
	}
	lines := make([]string, 0, len(rows))
	for _, row := range rows {
		var sb strings.Builder
		for j, cell := range row {
			if j > 0 {
				sb.WriteString(sep)
			}
			pad := strings.Repeat(" ", widths[j]-displayWidth(cell))
			if j < len(right) && right[j] {
				sb.WriteString(pad + cell)
			} else {
				sb.WriteString(cell + pad)
			}
		}
		lines = append(lines, strings.TrimRight(sb.String(), " "))
	}
	return lines
}

// displayWidth is the number of monospace terminal cells s occupies: East
// Asian wide and fullwidth runes take two, combining marks, format and
// control characters none, everything else one.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Cc):
			// zero width
		default:
			switch width.LookupRune(r).Kind() {
			case width.EastAsianWide, width.EastAsianFullwidth:
				n += 2
			default:
				n++
			}
		}
	}
	return n
}
