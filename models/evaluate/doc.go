// Package evaluate scores intent predictions against labelled examples and
// renders the result as text, JSON or a self-contained HTML page.
//
// It is the library behind `kefu eval intents`: the caller reads a JSON Lines
// test set with [ReadExamples] or [ReadExamplesFile], classifies every
// [Example], collects one [Result] per example, and passes them to [Score].
// The package itself is pure: it does no classification, I/O beyond the
// readers and writers it is handed, or logging.
//
// # Metrics
//
// The out-of-scope label is [OOS] ("oos"). It counts as an ordinary label in
// the confusion matrix, accuracy and macro-F1, and additionally gets its own
// recall and precision. Every ratio whose denominator is zero is reported as
// 0 (never NaN, which encoding/json cannot encode); the text and HTML reports
// print such undefined summary figures as "n/a".
//
//   - accuracy: share of all examples whose prediction equals the gold label.
//   - in-scope accuracy: the same over examples whose gold label is not oos.
//   - per-intent precision, recall, F1 and support for every label that
//     occurs as a gold label or as a prediction. A label that is only ever
//     predicted has support 0 and recall 0; a label that is never predicted
//     has precision 0.
//   - macro-F1: the unweighted mean of the per-intent F1 over that same label
//     set (gold ∪ predicted, oos included when present). Labels that are only
//     predicted therefore pull it down, as in scikit-learn with labels set to
//     the union.
//   - oos recall: of the examples whose gold label is oos, the share predicted
//     oos (0 when there are none).
//   - oos precision: of the examples predicted oos, the share whose gold
//     label is oos (0 when nothing was predicted oos).
//   - latency: nearest-rank p50, p90 and p99, mean and max, in milliseconds.
//
// Labels are sorted by their byte (code point) order, and the confusion
// matrix is indexed the same way, rows gold and columns predicted, so the
// JSON and the HTML describe the same matrix.
package evaluate
