package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kefu-chat/kefu/cmd/internal/app"
	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/models/onnx"
	recipe "github.com/kefu-chat/kefu/models/train"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// train runs the embedded Python recipe (models/train) with Debian's
// python3-torch, then loads the exported model to prove kefu can serve it.
func trainCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", stderr)
	var data, val, unlabelled multi
	fs.Var(&data, "data", "training JSON Lines `file` (repeatable)")
	fs.Var(&val, "val", "validation `file` (repeatable); default: 10% of --data")
	fs.Var(&unlabelled, "unlabelled", "unlabelled text `file` for masked-LM pretraining (repeatable)")
	out := fs.String("out", "", "output model `folder`")
	base := fs.String("base", "", "start from this Hugging Face layout checkpoint `folder`")
	size := fs.String("size", "", "model size preset: tiny, wide or small (recipe default: tiny)")
	epochs := fs.Int("epochs", 0, "training epochs (recipe default)")
	mlm := fs.Int("mlm-epochs", 0, "masked-LM pretraining epochs before fine-tuning")
	seed := fs.Int("seed", 0, "random seed (recipe default)")
	python := fs.String("python", defaultPython(), "Python `interpreter` with torch")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: kefu train --data FILE [--val FILE] --out DIR [flags] [-- recipe flags]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nFlags after -- go to the recipe as they are (see: kefu train -- --help).")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	rest := fs.Args()
	if len(data) == 0 || *out == "" {
		if len(rest) > 0 && rest[0] == "--help" {
			return runRecipe(*python, rest, stdout, stderr)
		}
		fmt.Fprintln(stderr, "kefu train: --data and --out are required")
		return errUsage
	}
	a := []string{"--data"}
	a = append(a, data...)
	if len(val) > 0 {
		a = append(a, "--val")
		a = append(a, val...)
	}
	if len(unlabelled) > 0 {
		a = append(a, "--unlabelled")
		a = append(a, unlabelled...)
	}
	a = append(a, "--out", *out)
	if *base != "" {
		a = append(a, "--base", *base)
	}
	if *size != "" {
		a = append(a, "--size", *size)
	}
	if *epochs > 0 {
		a = append(a, "--epochs", strconv.Itoa(*epochs))
	}
	if *mlm > 0 {
		a = append(a, "--mlm-epochs", strconv.Itoa(*mlm))
	}
	if *seed != 0 {
		a = append(a, "--seed", strconv.Itoa(*seed))
	}
	a = append(a, rest...)
	if err := runRecipe(*python, a, stdout, stderr); err != nil {
		return err
	}
	return verify(*out, stdout)
}

// verify loads the new model the way kefu serve would, when the ONNX
// Runtime library is installed.
func verify(dir string, stdout io.Writer) error {
	cfg := config.Default()
	cfg.Models.Intent.Path = dir
	if err := app.InitRuntime(&cfg); err != nil {
		var le *onnx.LibraryError
		if errors.As(err, &le) {
			fmt.Fprintf(stdout, "model written to %s (not loaded: %v)\n", dir, err)
			return nil
		}
		return err
	}
	defer onnx.Shutdown()
	c, err := app.LoadClassifier(&cfg, nil)
	if err != nil {
		return fmt.Errorf("the trained model does not load: %w", err)
	}
	defer c.Close()
	if err := onnx.CheckParity(context.Background(), c, dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "model written to %s: loads in kefu, %d intents, oos threshold %.2f\n", dir, len(c.Labels()), c.Threshold())
	return nil
}

func runRecipe(python string, args []string, stdout, stderr io.Writer) error {
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		return fmt.Errorf("training needs PyTorch for %s: install it with `apt-get install python3-torch python3-onnx` (or: make model-deps)", python)
	}
	dir, err := os.MkdirTemp("", "kefu-recipe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	err = fs.WalkDir(recipe.Recipe, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := recipe.Recipe.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		return err
	}
	cmd := exec.Command(python, append([]string{filepath.Join(dir, "train.py")}, args...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "PYTHONWARNINGS=ignore")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("training failed: %w", err)
	}
	return nil
}

// defaultPython prefers Debian's interpreter, which sees python3-torch.
func defaultPython() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}
