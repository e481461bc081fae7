package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kefu-chat/kefu/dsl/runtime"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/convo"
)

// testCmd runs conversation scripts against the bot in process and exits
// non-zero when any fails.
func testCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("test", stderr)
	path := fs.String("config", "kefu.yaml", "config `file`")
	demo := fs.Bool("demo", false, "start the demo order service for the demo bot")
	verbose := fs.Bool("v", false, "print passing scripts too")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var files []string
	for _, a := range fs.Args() {
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			m, _ := filepath.Glob(filepath.Join(a, "*.txt"))
			files = append(files, m...)
			continue
		}
		files = append(files, a)
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: kefu test --config FILE [--demo] SCRIPT.txt|DIR...")
		return errUsage
	}
	sort.Strings(files)
	var scripts []*convo.Script
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		s, err := convo.Parse(f, data)
		if err != nil {
			return err
		}
		scripts = append(scripts, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var shop interface{ Reset() }
	if *demo {
		s, _, err := startDemoShop(ctx)
		if err != nil {
			return err
		}
		shop = s
	}
	b, err := openBot(*path, quietLogger(stderr))
	if err != nil {
		return err
	}
	defer b.Close()
	t := engineTurner{b.engine}
	start := time.Now()
	failed := 0
	for _, s := range scripts {
		if shop != nil {
			shop.Reset() // every script starts from the same orders
		}
		res := convo.Run(ctx, s, t)
		if !res.Passed {
			failed++
		}
		if !res.Passed || *verbose {
			res.Write(stdout)
		}
	}
	fmt.Fprintf(stdout, "%d scripts, %d passed, %d failed (%s)\n", len(scripts), len(scripts)-failed, failed, time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		return fmt.Errorf("test: %d of %d scripts failed", failed, len(scripts))
	}
	return nil
}

// engineTurner plays scripts against the engine directly.
type engineTurner struct{ e *engine.Engine }

func (t engineTurner) Turn(ctx context.Context, sid, text string, o convo.TurnOptions) (convo.TurnResult, error) {
	rep, err := t.e.Turn(ctx, engine.Request{SessionID: sid, UserID: o.UserID, Channel: o.Channel, Text: text, Now: o.Now})
	if err != nil {
		return convo.TurnResult{}, err
	}
	res := convo.TurnResult{
		Route: rep.Route, Intent: rep.Intent.Name, Confidence: rep.Intent.Confidence,
		Handoff: rep.Handoff, Slots: formatValues(rep.Slots), Vars: formatValues(rep.Vars),
	}
	for _, p := range rep.Replies {
		res.Replies = append(res.Replies, p.Text)
	}
	if rep.Flow != nil && rep.Flow.Active {
		res.Flow, res.Step = rep.Flow.Name, rep.Flow.Step
	}
	for _, e := range rep.Entities {
		res.Entities = append(res.Entities, convo.Entity{Type: e.Type, Value: e.Value})
	}
	return res, nil
}

func (t engineTurner) AgentReply(ctx context.Context, sid, text string) error {
	_, err := t.e.AgentReply(ctx, sid, "test-agent", text)
	return err
}

func (t engineTurner) Release(ctx context.Context, sid string) error {
	_, err := t.e.Release(ctx, sid)
	return err
}

func formatValues(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = runtime.Format(v)
	}
	return out
}
