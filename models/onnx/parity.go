package onnx

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// CheckParity checks that c, run by ONNX Runtime through the Go tokenizer,
// reproduces what the training recipe's torch model gave for its probe
// texts (golden.json in dir): the same token ids and logits within 1e-3.
// It proves that the export, its graph rewrites and the tokenizer agree
// with the model that was trained.
func CheckParity(ctx context.Context, c *Classifier, dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		return fmt.Errorf("the recipe wrote no parity probes: %w", err)
	}
	var golden []struct {
		Text   string    `json:"text"`
		IDs    []int64   `json:"ids"`
		Logits []float32 `json:"logits"`
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		return fmt.Errorf("golden.json: %w", err)
	}
	for _, g := range golden {
		if ids := c.Folder().Tokenizer.Encode(g.Text).IDs; g.IDs != nil && !slices.Equal(ids, g.IDs) {
			return fmt.Errorf("parity: %q: Go token ids %v, recipe ids %v", g.Text, ids, g.IDs)
		}
		got, err := c.Logits(ctx, []string{g.Text})
		if err != nil {
			return err
		}
		if len(got[0]) != len(g.Logits) {
			return fmt.Errorf("parity: %q: %d logits from ONNX Runtime, %d from torch", g.Text, len(got[0]), len(g.Logits))
		}
		for i := range g.Logits {
			if d := math.Abs(float64(got[0][i] - g.Logits[i])); d > 1e-3 {
				return fmt.Errorf("parity: %q: logit %d is %v in ONNX Runtime and %v in torch: the exported model does not reproduce the trained one", g.Text, i, got[0][i], g.Logits[i])
			}
		}
	}
	return nil
}
