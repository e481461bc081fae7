package convo

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Script is one parsed conversation script. It is immutable after Parse and
// may be run any number of times, concurrently.
type Script struct {
	// Name is the name given to Parse, usually the file's path; failures
	// are reported as Name:line.
	Name string
	// Steps are the turns and directives in order.
	Steps []Step
}

// Turns returns the number of > turns in the script.
func (s *Script) Turns() int {
	n := 0
	for _, st := range s.Steps {
		if st.Directive == "" {
			n++
		}
	}
	return n
}

// Step is one turn (a > line with its < and = lines) or one @ directive.
type Step struct {
	// Line is the 1-based line of the > or @.
	Line int
	// Directive is "" for a turn, else session, channel, user, now, wait,
	// agent or release.
	Directive string
	// Text is the customer's message of a turn, or the directive's
	// argument as written.
	Text string
	// Replies are the turn's < lines, in order.
	Replies []Match
	// Asserts are the turn's = lines, in order.
	Asserts []Assert
	// Time is the argument of @ now.
	Time time.Time
	// Wait is the argument of @ wait.
	Wait time.Duration
}

// Assert is one = line.
type Assert struct {
	Line int
	// Key is route, intent, flow, step, slot, var, entity or handoff.
	Key string
	// Name is the slot or var name or the entity type; "" for other keys.
	Name string
	// Want is the expected value. route and handoff values are exact.
	Want Match
}

// MatchOp says how a Match compares text.
type MatchOp int

// The ways a Match compares.
const (
	Exact    MatchOp = iota // equal after trimming
	Contains                // ~text
	Regexp                  // /re/
	Any                     // *: anything (for assertions, anything non-empty)
	Unset                   // -: nothing (assertions only)
)

// Match is an expected text, as written in a < line or an assertion value.
type Match struct {
	Line int
	Op   MatchOp
	// Text is the text to equal or contain, or the regexp's source.
	Text string
	// Src is the value as written in the script.
	Src string
	re  *regexp.Regexp
}

// String returns the match as written.
func (m Match) String() string { return m.Src }

// Match reports whether got satisfies m. Surrounding spaces of got do not
// count; an empty got is "no value" for Any and Unset.
func (m Match) Match(got string) bool {
	got = strings.TrimSpace(got)
	switch m.Op {
	case Contains:
		return strings.Contains(got, m.Text)
	case Regexp:
		return m.re != nil && m.re.MatchString(got)
	case Any:
		return got != ""
	case Unset:
		return got == ""
	default:
		return got == m.Text
	}
}

// Error is a mistake in a script, at a line.
type Error struct {
	File string
	Line int
	Msg  string
}

// Error returns "file:line: msg".
func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ErrorList is every mistake Parse found, in line order.
type ErrorList []*Error

// Error returns the first error and how many more there are.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	case 2:
		return l[0].Error() + " (and 1 more error)"
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0].Error(), len(l)-1)
}

// Err returns l as an error, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// maxErrors caps the errors Parse reports for one file.
const maxErrors = 20

var (
	assertKeys    = []string{"route", "intent", "flow", "step", "slot", "var", "entity", "handoff"}
	routes        = []string{"flow", "knowledge", "generative", "handoff", "fallback"}
	directiveKeys = []string{"session", "channel", "user", "now", "wait", "agent", "release"}
)

// fullWidth maps the full-width markers a Chinese input method types to
// their ASCII forms.
var fullWidth = strings.NewReplacer("＞", ">", "＜", "<", "＝", "=", "＠", "@", "＃", "#", "～", "~")

// Parse reads a script. name is used in error messages and results. The
// error, when not nil, is an ErrorList holding every mistake (up to 20),
// each as "name:line: message".
func Parse(name string, data []byte) (*Script, error) {
	p := &parser{s: &Script{Name: name}, turn: -1}
	text := strings.TrimPrefix(string(data), "\ufeff")
	for i, line := range strings.Split(text, "\n") {
		if len(p.errs) >= maxErrors {
			p.errs = append(p.errs, &Error{name, i + 1, "too many errors"})
			break
		}
		p.line(i+1, strings.TrimSpace(line))
	}
	if len(p.errs) == 0 && p.s.Turns() == 0 {
		p.errorf(1, `no "> message" lines: a script needs at least one`)
	}
	if err := p.errs.Err(); err != nil {
		return nil, err
	}
	return p.s, nil
}

type parser struct {
	s    *Script
	errs ErrorList
	turn int // index in s.Steps of the turn that < and = lines belong to; -1 when none
	end  string
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{p.s.Name, line, fmt.Sprintf(format, args...)})
}

// line parses one trimmed line.
func (p *parser) line(n int, line string) {
	if line == "" {
		return
	}
	r, size := utf8.DecodeRuneInString(line)
	marker := fullWidth.Replace(string(r))
	rest := strings.TrimSpace(line[size:])
	switch marker {
	case "#":
	case ">":
		if rest == "" {
			p.errorf(n, `empty message after ">"`)
			return
		}
		p.s.Steps = append(p.s.Steps, Step{Line: n, Text: rest})
		p.turn = len(p.s.Steps) - 1
	case "<":
		if !p.inTurn(n, "<") {
			return
		}
		if rest == "" {
			p.errorf(n, `empty reply after "<" (write "< *" for any reply)`)
			return
		}
		m, err := parseMatch(n, rest, false)
		if err != nil {
			p.errorf(n, "%v", err)
			return
		}
		t := &p.s.Steps[p.turn]
		t.Replies = append(t.Replies, m)
	case "=":
		if !p.inTurn(n, "=") {
			return
		}
		a, err := parseAssert(n, rest)
		if err != nil {
			p.errorf(n, "%v", err)
			return
		}
		t := &p.s.Steps[p.turn]
		t.Asserts = append(t.Asserts, a)
	case "@":
		st, err := parseDirective(n, rest)
		if err != nil {
			p.errorf(n, "%v", err)
		} else {
			p.s.Steps = append(p.s.Steps, st)
		}
		p.turn, p.end = -1, fmt.Sprintf("the turn ended at the @ on line %d", n)
	default:
		p.errorf(n, `unknown line %q (want "> message", "< reply", "= assertion", "@ directive" or "# comment")`, clip(line))
	}
}

func (p *parser) inTurn(n int, marker string) bool {
	if p.turn >= 0 {
		return true
	}
	if p.end != "" {
		p.errorf(n, `%q must follow a "> message" line; %s`, marker, p.end)
	} else {
		p.errorf(n, `%q before the first "> message" line`, marker)
	}
	return false
}

// parseAssert parses the text after "=".
func parseAssert(n int, s string) (Assert, error) {
	key, rest := cut(s)
	a := Assert{Line: n, Key: key}
	usage := map[string]string{
		"route": "= route flow", "intent": "= intent NAME", "flow": "= flow NAME", "step": "= step STEP",
		"slot": "= slot NAME VALUE", "var": "= var NAME VALUE", "entity": "= entity TYPE VALUE", "handoff": "= handoff yes",
	}
	switch key {
	case "":
		return a, fmt.Errorf(`empty assertion after "=" (want: %s)`, strings.Join(assertKeys, ", "))
	case "route", "handoff":
		want := routes
		if key == "handoff" {
			want = []string{"yes", "no"}
		}
		if rest == "" {
			return a, fmt.Errorf("missing value: write %q", usage[key])
		}
		if !contains(want, rest) {
			return a, fmt.Errorf("%s %q (want: %s)", key, clip(rest), strings.Join(want, ", "))
		}
		a.Want = Match{Line: n, Op: Exact, Text: rest, Src: rest}
		return a, nil
	case "intent", "flow", "step":
	case "slot", "var", "entity":
		a.Name, rest = cut(rest)
		if a.Name == "" {
			return a, fmt.Errorf("missing name and value: write %q (- for unset)", usage[key])
		}
	default:
		return a, fmt.Errorf("unknown assertion %q (want: %s)", clip(key), strings.Join(assertKeys, ", "))
	}
	if rest == "" {
		return a, fmt.Errorf("missing value: write %q (- for none)", usage[key])
	}
	m, err := parseMatch(n, rest, true)
	a.Want = m
	return a, err
}

// parseDirective parses the text after "@".
func parseDirective(n int, s string) (Step, error) {
	key, arg := cut(s)
	st := Step{Line: n, Directive: key, Text: arg}
	need := func(what string) error {
		if arg == "" {
			return fmt.Errorf("@ %s needs %s", key, what)
		}
		return nil
	}
	switch key {
	case "session":
		return st, need(`a name, or "new" for a fresh session`)
	case "channel":
		return st, need("a channel name")
	case "user":
		return st, need("a user id")
	case "agent":
		return st, need("the agent's message")
	case "release":
		if arg != "" {
			return st, fmt.Errorf("@ release takes no argument")
		}
		return st, nil
	case "now":
		t, err := time.Parse(time.RFC3339, arg)
		if err != nil {
			return st, fmt.Errorf("@ now: %q is not a time like 2026-11-22T10:00:00+08:00", clip(arg))
		}
		st.Time = t
		return st, nil
	case "wait":
		d, err := parseWait(arg)
		if err != nil {
			return st, fmt.Errorf("@ wait: %q is not a duration like 30s, 10m, 2h or 3d", clip(arg))
		}
		st.Wait = d
		return st, nil
	case "":
		return st, fmt.Errorf(`empty directive after "@" (want: %s)`, strings.Join(directiveKeys, ", "))
	}
	return st, fmt.Errorf("unknown directive %q (want: %s)", clip(key), strings.Join(directiveKeys, ", "))
}

func parseWait(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("bad days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		err = fmt.Errorf("negative")
	}
	return d, err
}

// parseMatch parses an expected text; assertion values may also be "-".
func parseMatch(n int, s string, assertion bool) (Match, error) {
	m := Match{Line: n, Op: Exact, Text: s, Src: s}
	switch {
	case s == "*":
		m.Op = Any
	case s == "-" && assertion:
		m.Op = Unset
	case strings.HasPrefix(s, "~") || strings.HasPrefix(s, "～"):
		_, size := utf8.DecodeRuneInString(s)
		text, err := unquote(strings.TrimSpace(s[size:]))
		if err != nil {
			return m, err
		}
		if text == "" {
			return m, fmt.Errorf(`empty text after "~" (write "*" to match anything)`)
		}
		m.Op, m.Text = Contains, text
	case len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/':
		src := s[1 : len(s)-1]
		if src == "" {
			return m, fmt.Errorf(`empty regexp "//"`)
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return m, fmt.Errorf("bad regexp %s: %v", clip(s), err)
		}
		m.Op, m.Text, m.re = Regexp, src, re
	default:
		text, err := unquote(s)
		if err != nil {
			return m, err
		}
		m.Text = text
	}
	return m, nil
}

// unquote strips Go quotes from a "quoted" text and trims it; other text is
// returned as is.
func unquote(s string) (string, error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s, nil
	}
	u, err := strconv.Unquote(s)
	if err != nil {
		return "", fmt.Errorf(`bad quoted text %s (inside quotes write \" for a quote and \\ for a backslash)`, clip(s))
	}
	return strings.TrimSpace(u), nil
}

// cut splits off the first space-separated word.
func cut(s string) (word, rest string) {
	i := strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\u3000' })
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// clip shortens text quoted in error messages.
func clip(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
