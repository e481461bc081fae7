package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kefu-chat/kefu/cmd/internal/app"
	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/evaluate"
	"github.com/kefu-chat/kefu/models/onnx"
)

func eval(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "retrieval" {
		return evalRetrieval(args[1:], stdout, stdout)
	}
	if len(args) == 0 || args[0] != "intents" {
		fmt.Fprintln(stdout, "usage: kefu eval intents --model DIR --data FILE [--json] [--html FILE]\n       kefu eval retrieval --config FILE --data FILE [--kb FILE] [--json]")
		return errUsage
	}
	fs := newFlags("eval intents", stdout)
	modelDir := fs.String("model", "", "model `folder` (Hugging Face layout); default: the config's intent model")
	cfgPath := fs.String("config", "", "config `file` to take the model and runtime settings from")
	data := fs.String("data", "", "labelled JSON Lines `file` ({\"text\", \"intent\"})")
	asJSON := fs.Bool("json", false, "print one JSON object")
	htmlOut := fs.String("html", "", "also write an HTML report with the confusion matrix to `file`")
	threshold := fs.Float64("threshold", -1, "override the model's out-of-scope threshold")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *data == "" {
		fmt.Fprintln(stdout, "kefu eval intents: --data is required")
		return errUsage
	}
	cfg := config.Default()
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		cfg = *c
	}
	if *modelDir != "" {
		cfg.Models.Intent.Path = *modelDir
	}
	if cfg.Models.Intent.Path == "" {
		fmt.Fprintln(stdout, "kefu eval intents: --model or --config is required")
		return errUsage
	}
	if *threshold >= 0 {
		t := float32(*threshold)
		cfg.Models.Intent.OOSThreshold = &t
	}
	examples, err := evaluate.ReadExamplesFile(*data)
	if err != nil {
		return err
	}
	if err := app.InitRuntime(&cfg); err != nil {
		return err
	}
	defer onnx.Shutdown()
	c, err := app.LoadClassifier(&cfg, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	known := map[string]bool{models.OOS: true}
	for _, l := range c.Labels() {
		known[l] = true
	}
	ctx := context.Background()
	results := make([]evaluate.Result, 0, len(examples))
	unknown := map[string]int{}
	for _, ex := range examples {
		if !known[ex.Intent] {
			unknown[ex.Intent]++
		}
		t0 := time.Now()
		p, err := c.Classify(ctx, ex.Text)
		if err != nil {
			return err
		}
		results = append(results, evaluate.Result{Gold: ex.Intent, Pred: p.Intent.Name, Confidence: p.Intent.Confidence, Latency: time.Since(t0)})
	}
	if len(unknown) > 0 && !*asJSON {
		fmt.Fprintf(stdout, "note: %d gold intents are not labels of this model: %v\n", len(unknown), unknown)
	}
	rep := evaluate.Score(results)
	if *htmlOut != "" {
		f, err := os.Create(*htmlOut)
		if err != nil {
			return err
		}
		if err := rep.WriteHTML(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	fmt.Fprintf(stdout, "model %s (oos threshold %.2f), data %s\n\n", cfg.Models.Intent.Path, c.Threshold(), *data)
	return rep.WriteText(stdout)
}
