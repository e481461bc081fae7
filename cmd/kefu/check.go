package main

import (
	"fmt"
	"io"

	"github.com/kefu-chat/kefu/cmd/internal/app"
	"github.com/kefu-chat/kefu/cmd/internal/config"
)

// check runs the start-up path without serving: strict config, the ONNX
// Runtime library, and every model with its probe inference.
func check(args []string, stdout io.Writer) error {
	fs := newFlags("check", stdout)
	path := fs.String("config", "kefu.yaml", "config `file`")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	a, err := app.Build(cfg, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintf(stdout, "%s: ok\n  intent model %s: %d intents, oos threshold %.2f\n",
		*path, cfg.Models.Intent.Path, len(a.Classifier.Labels()), a.Classifier.Threshold())
	if a.Embedder != nil {
		fmt.Fprintf(stdout, "  embedder %s: %d dimensions\n", cfg.Models.Embedder.Path, a.Embedder.Dim())
	}
	return nil
}
