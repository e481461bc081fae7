package convo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Turner is the bot under test: the engine, or anything in front of it (an
// HTTP client of kefu serve). Turn handles one customer message in a session
// and reports what the bot did.
type Turner interface {
	Turn(ctx context.Context, sessionID, text string, opts TurnOptions) (TurnResult, error)
}

// Agent is an optional interface of a Turner that supports human handoff:
// @ agent calls AgentReply and @ release calls Release. Run finds it by
// type assertion.
type Agent interface {
	// AgentReply delivers a human agent's message in a handed-off session.
	AgentReply(ctx context.Context, sessionID, text string) error
	// Release gives the session back to the bot.
	Release(ctx context.Context, sessionID string) error
}

// TurnerFunc adapts a function to a Turner.
type TurnerFunc func(ctx context.Context, sessionID, text string, opts TurnOptions) (TurnResult, error)

// Turn calls f.
func (f TurnerFunc) Turn(ctx context.Context, sessionID, text string, opts TurnOptions) (TurnResult, error) {
	return f(ctx, sessionID, text, opts)
}

// TurnOptions are the per-turn settings directives change. Zero values mean
// the engine's defaults.
type TurnOptions struct {
	Channel string
	UserID  string
	// Now is the clock of the turn; zero means the engine's own clock.
	Now time.Time
}

// TurnResult is what a turn did, as assertions see it.
type TurnResult struct {
	// Replies are the bot's messages, in order, as plain text.
	Replies []string
	// Route is flow, knowledge, generative, handoff or fallback.
	Route string
	// Intent is the classified intent, "" when none.
	Intent     string
	Confidence float64
	// Flow and Step are the active flow and step after the turn, "" when
	// none.
	Flow, Step string
	// Slots are the active flow's slots; Vars the session variables.
	Slots, Vars map[string]string
	// Entities are those extracted from the message.
	Entities []Entity
	// Handoff reports whether the session is with a human agent.
	Handoff bool
}

// Entity is one extracted entity.
type Entity struct {
	Type, Value string
}

// Result is the outcome of running one script.
type Result struct {
	Name   string
	Passed bool
	// Turns is the number of turns played (fewer than the script's when it
	// stopped early).
	Turns    int
	Failures []Failure
}

// Failure is one failed check.
type Failure struct {
	// Line is the script line of the check, 0 when there is none.
	Line int
	// Message is a title line, then "want: …" and "got:  …" lines.
	Message string
}

// Run plays s against t in a fresh session ("test-" and a random id) and
// checks every reply and assertion. A turn error, a failing @ agent or
// @ release, or the end of ctx records a failure and stops the script;
// failed checks do not. Run never panics on a nil script or Turner.
func Run(ctx context.Context, s *Script, t Turner) Result {
	r := Result{}
	if s == nil || t == nil {
		r.fail(0, "nothing to run: nil script or Turner")
		return r
	}
	r.Name = s.Name
	sessions := map[string]string{}
	sid := newSessionID()
	var opts TurnOptions
	for _, st := range s.Steps {
		if err := ctx.Err(); err != nil {
			r.fail(st.Line, "stopped: %v", err)
			break
		}
		if st.Directive != "" {
			if !r.directive(ctx, st, t, &sid, sessions, &opts) {
				break
			}
			continue
		}
		res, err := t.Turn(ctx, sid, st.Text, opts)
		r.Turns++
		if err != nil {
			r.fail(st.Line, "turn failed: %v", err)
			break
		}
		r.checkReplies(st, res.Replies)
		for _, a := range st.Asserts {
			r.check(a, res)
		}
	}
	r.Passed = len(r.Failures) == 0
	return r
}

// directive applies one @ step; false stops the script.
func (r *Result) directive(ctx context.Context, st Step, t Turner, sid *string, sessions map[string]string, opts *TurnOptions) bool {
	switch st.Directive {
	case "session":
		if st.Text == "new" {
			*sid = newSessionID()
			return true
		}
		id, ok := sessions[st.Text]
		if !ok {
			id = newSessionID()
			sessions[st.Text] = id
		}
		*sid = id
	case "channel":
		opts.Channel = st.Text
	case "user":
		opts.UserID = st.Text
	case "now":
		opts.Now = st.Time
	case "wait":
		if opts.Now.IsZero() {
			opts.Now = time.Now()
		}
		opts.Now = opts.Now.Add(st.Wait)
	case "agent", "release":
		a, ok := t.(Agent)
		if !ok {
			r.fail(st.Line, "@ %s: the bot under test does not support human agents", st.Directive)
			return false
		}
		var err error
		if st.Directive == "agent" {
			err = a.AgentReply(ctx, *sid, st.Text)
		} else {
			err = a.Release(ctx, *sid)
		}
		if err != nil {
			r.fail(st.Line, "@ %s failed: %v", st.Directive, err)
			return false
		}
	default:
		r.fail(st.Line, "unknown directive %q", st.Directive)
		return false
	}
	return true
}

func (r *Result) checkReplies(st Step, got []string) {
	want := st.Replies
	if len(want) == 0 {
		return
	}
	if len(got) != len(want) {
		var b strings.Builder
		fmt.Fprintf(&b, "got %s, want %d", plural(len(got), "reply", "replies"), len(want))
		for i, w := range want {
			fmt.Fprintf(&b, "\nwant %d: %s", i+1, w.Src)
		}
		for i, g := range got {
			fmt.Fprintf(&b, "\ngot %d:  %s", i+1, show(g))
		}
		r.fail(st.Line, "%s", b.String())
		return
	}
	for i, w := range want {
		if !w.Match(got[i]) {
			r.fail(w.Line, "reply %d\nwant: %s\ngot:  %s", i+1, w.Src, show(got[i]))
		}
	}
}

// check evaluates one assertion against a turn's result.
func (r *Result) check(a Assert, res TurnResult) {
	title := a.Key
	var got string
	var ok bool
	switch a.Key {
	case "route":
		got, ok = res.Route, res.Route == a.Want.Text
	case "handoff":
		got = "no"
		if res.Handoff {
			got = "yes"
		}
		ok = got == a.Want.Text
	case "intent":
		got, ok = res.Intent, a.Want.Match(res.Intent)
		if res.Intent != "" && !ok {
			got += fmt.Sprintf(" (confidence %.2f)", res.Confidence)
		}
	case "flow":
		got, ok = res.Flow, a.Want.Match(res.Flow)
	case "step":
		got, ok = res.Step, a.Want.Match(res.Step)
	case "slot", "var":
		m := res.Slots
		if a.Key == "var" {
			m = res.Vars
		}
		title = a.Key + " " + a.Name
		got, ok = m[a.Name], a.Want.Match(m[a.Name])
	case "entity":
		title = "entity " + a.Name
		var vals []string
		for _, e := range res.Entities {
			if e.Type == a.Name {
				vals = append(vals, e.Value)
			}
		}
		ok = entityOK(a.Want, vals)
		got = strings.Join(mapShow(vals), ", ")
		if len(vals) == 0 && len(res.Entities) > 0 {
			var all []string
			for _, e := range res.Entities {
				all = append(all, e.Type+"="+show(e.Value))
			}
			sort.Strings(all)
			got = "(none; found " + strings.Join(all, ", ") + ")"
		}
	default:
		title = "unknown assertion " + a.Key
	}
	if ok {
		return
	}
	if got == "" {
		got = "(none)"
	} else if a.Key != "entity" {
		got = show(got)
	}
	r.fail(a.Line, "%s\nwant: %s\ngot:  %s", title, a.Want.Src, got)
}

// entityOK: - wants no entity of the type, anything else wants one that
// matches.
func entityOK(want Match, vals []string) bool {
	if want.Op == Unset {
		return len(vals) == 0
	}
	for _, v := range vals {
		if want.Match(v) {
			return true
		}
	}
	return false
}

func (r *Result) fail(line int, format string, args ...any) {
	r.Failures = append(r.Failures, Failure{Line: line, Message: fmt.Sprintf(format, args...)})
}

// Write prints the result: each failure, then a summary line.
//
//	FAIL refund.txt:9: reply 1
//	    want: 请问您的订单号是多少？
//	    got:  请提供订单号
//	FAIL refund.txt (3 turns, 1 failure)
//
// or, when it passed, "ok   refund.txt (5 turns)".
func (r Result) Write(w io.Writer) error {
	var b strings.Builder
	for _, f := range r.Failures {
		lines := strings.Split(f.Message, "\n")
		if f.Line > 0 {
			fmt.Fprintf(&b, "FAIL %s:%d: %s\n", r.Name, f.Line, lines[0])
		} else {
			fmt.Fprintf(&b, "FAIL %s: %s\n", r.Name, lines[0])
		}
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	turns := plural(r.Turns, "turn", "turns")
	if r.Passed {
		fmt.Fprintf(&b, "ok   %s (%s)\n", r.Name, turns)
	} else {
		fmt.Fprintf(&b, "FAIL %s (%s, %s)\n", r.Name, turns, plural(len(r.Failures), "failure", "failures"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// show prints a reply or value on one line: quoted when it holds line
// breaks, tabs, surrounding spaces or nothing.
func show(s string) string {
	if s == "" || s != strings.TrimSpace(s) || !isPrintable(s) {
		return strconv.Quote(s)
	}
	return s
}

func isPrintable(s string) bool {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

func mapShow(vals []string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = show(v)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}
