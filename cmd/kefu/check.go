package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/kefu-chat/kefu/cmd/internal/app"
	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/dsl"
	"github.com/kefu-chat/kefu/models/onnx"
)

// check runs the start-up path without serving: strict config, the ONNX
// Runtime library, every model with its probe inference, and the flows,
// compiled against the model's intents and the configured services. It
// reports every flow error in every file, and never opens the session store
// (a running server holds it).
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
	var problems []error
	var intents []string
	if err := app.InitRuntime(cfg); err != nil {
		return err // one line: where kefu looked and the fix
	}
	defer onnx.Shutdown()
	cls, err := app.LoadClassifier(cfg, nil)
	if err != nil {
		problems = append(problems, err) // flows are still checked, without intents
	} else {
		defer cls.Close()
		intents = app.Intents(cls.Labels())
		fmt.Fprintf(stdout, "  intent model %s: %d intents, oos threshold %.2f\n",
			cfg.Models.Intent.Path, len(cls.Labels()), cls.Threshold())
	}
	d, err := app.LoadDialog(cfg, intents, nil)
	var list dsl.ErrorList
	switch {
	case errors.As(err, &list):
		fmt.Fprintln(stdout, list.Render())
		fmt.Fprintln(stdout)
		problems = append(problems, fmt.Errorf("%d errors in flows", len(list)))
	case err != nil:
		problems = append(problems, err)
	default:
		fmt.Fprintf(stdout, "  flows: %d flows and rules, %d services\n", len(d.Program.FlowNames()), len(cfg.Services))
	}
	if gw, err := app.OpenGateway(cfg, nil, nil); err != nil {
		problems = append(problems, err)
	} else if gw != nil {
		fmt.Fprintf(stdout, "  providers: %d routes\n", len(gw.Routes()))
		gw.Close()
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return nil
}
