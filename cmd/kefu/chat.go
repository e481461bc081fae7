package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kefu-chat/kefu/engine"
)

// chat is a terminal conversation with the bot: no server, one session.
func chat(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("chat", stderr)
	path := fs.String("config", "kefu.yaml", "config `file`")
	demo := fs.Bool("demo", false, "start the demo order service for the demo bot")
	quiet := fs.Bool("q", false, "print replies only, without route and intent")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if *demo {
		if _, _, err := startDemoShop(ctx); err != nil {
			return err
		}
	}
	b, err := openBot(*path, quietLogger(stderr))
	if err != nil {
		return err
	}
	defer b.Close()
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprintln(stdout, "kefu chat: type a message, Enter to send; /reset starts over, /quit or Ctrl-D leaves.")
	}
	sid := "chat-" + fmt.Sprint(os.Getpid())
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		fmt.Fprint(stdout, "> ")
		if !sc.Scan() {
			fmt.Fprintln(stdout)
			return sc.Err()
		}
		text := strings.TrimSpace(sc.Text())
		switch text {
		case "":
			continue
		case "/quit", "/exit":
			return nil
		case "/reset":
			_ = b.engine.Reset(ctx, sid)
			fmt.Fprintln(stdout, "(session reset)")
			continue
		}
		rep, err := b.engine.Turn(ctx, engine.Request{SessionID: sid, Channel: "terminal", Text: text})
		if err != nil {
			fmt.Fprintf(stdout, "! %v\n", err)
			continue
		}
		for _, p := range rep.Replies {
			fmt.Fprintf(stdout, "< %s\n", p.Text)
		}
		if !*quiet {
			fmt.Fprintf(stdout, "  [%s]\n", describe(rep))
		}
	}
}

// describe is the one-line trace kefu chat prints under each reply.
func describe(r *engine.Reply) string {
	parts := []string{"route " + r.Route}
	if r.Intent.Name != "" {
		parts = append(parts, fmt.Sprintf("intent %s %.2f", r.Intent.Name, r.Intent.Confidence))
	}
	if r.Flow != nil {
		parts = append(parts, "flow "+r.Flow.Name+" @ "+r.Flow.Step)
	}
	for _, e := range r.Entities {
		parts = append(parts, e.Type+"="+e.Value)
	}
	for _, c := range r.Calls {
		s := "call " + c.Service + "." + c.Op
		if !c.OK {
			s += " failed"
		}
		parts = append(parts, s)
	}
	parts = append(parts, fmt.Sprintf("%.1fms", float64(r.Timings.Total.Microseconds())/1000))
	return strings.Join(parts, " · ")
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
