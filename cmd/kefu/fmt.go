package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kefu-chat/kefu/dsl/format"
	"github.com/kefu-chat/kefu/dsl/source"
)

// fmtCmd prints flow files in canonical form, or rewrites them with -w.
func fmtCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fmt", stderr)
	write := fs.Bool("w", false, "write the result to the file instead of stdout")
	list := fs.Bool("l", false, "list files whose formatting differs; exit 1 if any")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: kefu fmt [-w] [-l] FILE.kefu...")
		return errUsage
	}
	var bad, differ int
	for _, path := range fs.Args() {
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out, errs := format.Format(path, src)
		if len(errs) > 0 {
			fmt.Fprintln(stderr, source.ErrorList(errs).Render())
			bad += len(errs)
			continue
		}
		same := bytes.Equal(src, out)
		switch {
		case *list:
			if !same {
				fmt.Fprintln(stdout, path)
				differ++
			}
		case *write:
			if !same {
				if err := os.WriteFile(path, out, 0o644); err != nil {
					return err
				}
			}
		default:
			stdout.Write(out)
		}
	}
	if bad > 0 {
		return fmt.Errorf("fmt: %d errors; fix them first (kefu check shows them all)", bad)
	}
	if differ > 0 {
		return fmt.Errorf("fmt: %d files need formatting (run kefu fmt -w)", differ)
	}
	return nil
}
