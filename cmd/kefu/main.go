// Command kefu is a self-hosted conversational engine for customer service.
//
//	kefu serve  --config kefu.yaml [--addr HOST:PORT]   run the HTTP server
//	kefu check  --config kefu.yaml                      validate config, models and flows
//	kefu fmt    [-w] [-l] FILE.kefu...                  format flow files
//	kefu chat   --config kefu.yaml [--demo]             talk to the bot in the terminal
//	kefu test   --config kefu.yaml [--demo] SCRIPT...   run conversation scripts
//	kefu ingest --config kefu.yaml [PATH...]            add files to the knowledge base
//	kefu eval retrieval --config kefu.yaml --data Q     score the knowledge base
//	kefu knowledge copy --config kefu.yaml --qdrant A   copy the embedded store into Qdrant
//	kefu eval intents --model DIR --data test.jsonl     score an intent model
//	kefu train  --data train.jsonl --out DIR            train an intent model
//	kefu version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `kefu: a self-hosted conversational engine for customer service

usage:
  kefu serve --config FILE [--addr HOST:PORT] [--demo]
  kefu check --config FILE
  kefu fmt [-w] [-l] FILE.kefu...
  kefu chat --config FILE [--demo]
  kefu test --config FILE [--demo] SCRIPT...
  kefu ingest --config FILE [PATH...]
  kefu eval retrieval --config FILE --data FILE [--kb FILE] [--json]
  kefu knowledge copy --config FILE --qdrant HOST:PORT [--collection NAME]
  kefu eval intents --model DIR --data FILE [--json] [--html FILE]
  kefu train --data FILE [--val FILE] --out DIR [--base DIR] [recipe flags]
  kefu bench --config FILE [--url URL] [--concurrency N] [--duration D] [--sessions S] [--demo] [--json]
  kefu version

Run "kefu COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serve(rest, stderr)
	case "check":
		err = check(rest, stdout)
	case "fmt":
		err = fmtCmd(rest, stdout, stderr)
	case "chat":
		err = chat(rest, os.Stdin, stdout, stderr)
	case "test":
		err = testCmd(rest, stdout, stderr)
	case "ingest":
		err = ingest(rest, stdout, stderr)
	case "knowledge":
		err = knowledgeCmd(rest, stdout, stderr)
	case "eval":
		err = eval(rest, stdout)
	case "train":
		err = trainCmd(rest, stdout, stderr)
	case "bench":
		err = benchCmd(rest, stdout, stderr)
	case "version":
		err = version(stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "kefu: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "kefu: %v\n", err)
		return 1
	}
}

// errUsage marks errors already reported by a FlagSet.
var errUsage = errors.New("usage")

func newFlags(name string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kefu "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}
