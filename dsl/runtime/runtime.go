// Package runtime runs compiled flows. It is pure: Run takes a program, a
// session's dialog state and one input, and returns the new state and the
// effects (say, ask, hand off, call a service) for the engine to perform. It
// does no I/O, so flows are deterministic and testable without a network.
package runtime

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"

	"github.com/kefu-chat/kefu/dsl/compile"
	"github.com/kefu-chat/kefu/dsl/source"
)

// State is a session's dialog state. It survives between turns (the engine
// stores it as JSON) and is never modified by Run.
type State struct {
	Stack []Frame        `json:"stack,omitempty"`
	Vars  map[string]any `json:"vars,omitempty"` // session variables, without $
	Prog  string         `json:"prog,omitempty"` // hash of the program that wrote the state
}

// Frame is one running flow. Between turns every frame on the stack is
// waiting for a slot's answer, or is the caller of the frame above it.
type Frame struct {
	Flow    string         `json:"flow"`
	PC      int            `json:"pc"`
	Step    string         `json:"step,omitempty"` // label of Steps[PC], to notice a changed flow after a reload
	Locals  map[string]any `json:"locals,omitempty"`
	Waiting bool           `json:"waiting,omitempty"` // asked the slot at PC; the next message answers it
	Tries   int            `json:"tries,omitempty"`   // invalid answers to that slot so far
	Calling bool           `json:"calling,omitempty"` // the call at PC is being performed
}

// Active returns the running flow and step, or empty strings.
func (s State) Active() (flow, step string) {
	if n := len(s.Stack); n > 0 {
		return s.Stack[n-1].Flow, s.Stack[n-1].Step
	}
	return "", ""
}

// Slots returns the filled slots and bindings of the running flow.
func (s State) Slots() map[string]any {
	if n := len(s.Stack); n > 0 {
		return s.Stack[n-1].Locals
	}
	return nil
}

// Entity is an entity the engine extracted from the message.
type Entity struct {
	Type  string
	Value string
}

// Message is an understood customer message.
type Message struct {
	Text       string // normalized, for matching
	Original   string // as the customer typed it
	Intent     string // "" when out of scope or under the threshold
	Confidence float64
	Entities   []Entity
	Channel    string
	Event      string // set instead of text for an event (会话开始, 人工结束 …)
}

// CallResult answers an Output.Call.
type CallResult struct {
	Value any
	Err   error
}

// Input is what one Run consumes: a message, or the result of the call the
// previous Run asked for (with the same message).
type Input struct {
	Message Message
	Call    *CallResult
}

// EffectKind says what the engine must do.
type EffectKind uint8

const (
	Say     EffectKind = iota + 1 // send Text
	Ask                           // send Text; a question
	Handoff                       // pass the session to a human (Queue)
)

// Effect is one thing for the engine to do, in order.
type Effect struct {
	Kind    EffectKind
	Text    string
	Queue   string
	Resumed bool // an Ask that returns to a question an interruption left pending
}

// CallRequest is a business service call the engine performs before
// running again with its result.
type CallRequest struct {
	Service    string
	Op         string
	Positional []any
	Named      map[string]any
	Timeout    time.Duration // 0: the service's default
	Retry      int           // -1: the service's default
}

// GenerateRequest is a generation a flow asked for: the prompt and the
// route ("" for the configured default).
type GenerateRequest struct {
	Prompt string
	Route  string
}

// Output is the result of one Run.
type Output struct {
	State   State
	Effects []Effect
	Handled bool         // a rule or flow took the message
	Call    *CallRequest // non-nil: perform it, then Run with Input.Call
	// Generate, when non-nil, asks for a generation; Run again with its
	// text as Input.Call.Value (a string) or its failure as Err.
	Generate *GenerateRequest
	Flow     string // the flow that ran last (for the trace)
	Step     string // its step
	Steps    int    // steps executed

	// Reprompted reports that the message did not answer the pending slot
	// and was asked again (a retry, not the give-up). Pending is then the
	// slot's own question, so the engine may answer the message another way
	// (the knowledge base) and ask Pending again, keeping the input state.
	Reprompted bool
	Pending    string
}

// Options are the budgets and default texts. The zero value is usable.
type Options struct {
	MaxSteps int           // per Run; default 1000
	MaxDepth int           // nested flows; default 8
	MaxTime  time.Duration // per Run; default 50ms
	Now      func() time.Time

	ServiceError string // said when a call fails and the flow has no `on error`
	GiveUp       string // said when a slot's retries run out
	GenerateKO   string // said when a flow's generate fails; the flow goes on
	Restarted    string // said when a reload changed the step a session was on
}

// Default texts, in the shop's voice.
const (
	DefaultServiceError = "抱歉，系统暂时查询不到，请稍后再试，或输入“转人工”联系客服。"
	DefaultGiveUp       = "抱歉，我还是没能识别，先结束这一步。需要帮助可以随时输入“转人工”。"
	DefaultRestarted    = "抱歉，流程刚刚更新了，我们从头再来一次。"
	DefaultGenerateKO   = "抱歉，这个问题我暂时答不上来，您可以输入“转人工”咨询人工客服。"
)

// Errors a Run can end with, wrapped in *Error.
var (
	ErrSteps = errors.New("step budget exhausted (do flows trigger each other in a loop?)")
	ErrTime  = errors.New("time budget exhausted")
	ErrDepth = errors.New("flows nested too deeply (do flows trigger each other in a loop?)")
	ErrState = errors.New("session state does not fit the program")
)

// Error is a failure while running a flow, with where it happened.
type Error struct {
	Flow string
	Step string
	Pos  source.Position
	Err  error
}

func (e *Error) Error() string {
	where := ""
	if e.Pos.IsValid() {
		where = fmt.Sprintf(" at %s:%d:%d", e.Pos.File, e.Pos.Line, e.Pos.Col)
	}
	return fmt.Sprintf("dsl: flow %q%s (%s): %v", e.Flow, where, e.Step, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

type run struct {
	p     *compile.Program
	opt   Options
	msg   Message
	out   Output
	start time.Time
}

// Run advances the dialog by one input. On error the returned Output still
// holds the effects produced before it; callers usually reset the dialog
// state and apologise.
func Run(p *compile.Program, st State, in Input, opt Options) (Output, error) {
	if opt.MaxSteps <= 0 {
		opt.MaxSteps = 1000
	}
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = 8
	}
	if opt.MaxTime <= 0 {
		opt.MaxTime = 50 * time.Millisecond
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.ServiceError == "" {
		opt.ServiceError = DefaultServiceError
	}
	if opt.GiveUp == "" {
		opt.GiveUp = DefaultGiveUp
	}
	if opt.Restarted == "" {
		opt.Restarted = DefaultRestarted
	}
	if opt.GenerateKO == "" {
		opt.GenerateKO = DefaultGenerateKO
	}
	r := &run{p: p, opt: opt, msg: in.Message, start: opt.Now()}
	r.out.State = clone(st)
	err := r.input(in)
	r.out.State.Prog = p.Hash
	if top := r.top(); top != nil {
		r.out.Flow, r.out.Step = top.Flow, top.Step
	}
	return r.out, err
}

func clone(st State) State {
	out := State{Vars: maps.Clone(st.Vars), Prog: st.Prog}
	if len(st.Stack) > 0 {
		out.Stack = make([]Frame, len(st.Stack))
		for i, f := range st.Stack {
			f.Locals = maps.Clone(f.Locals)
			out.Stack[i] = f
		}
	}
	return out
}

func (r *run) top() *Frame {
	s := r.out.State.Stack
	if len(s) == 0 {
		return nil
	}
	return &s[len(s)-1]
}

func (r *run) input(in Input) error {
	if in.Call != nil {
		top := r.top()
		if top == nil || !top.Calling {
			return &Error{Err: fmt.Errorf("%w: a call result with no call pending", ErrState)}
		}
		r.out.Handled = true
		if err := r.callResult(top, in.Call); err != nil {
			return err
		}
		return r.exec()
	}
	if r.repair() {
		r.out.Handled = true
		return r.exec()
	}
	if top := r.top(); top != nil && top.Waiting {
		return r.answer(top)
	}
	r.out.State.Stack = nil // nothing may be left running between turns but a waiting frame
	f := r.match()
	if f == nil {
		return nil
	}
	r.out.Handled = true
	if err := r.push(f.Name); err != nil {
		return err
	}
	return r.exec()
}

// repair checks the stack against the program, which a reload may have
// changed: a frame whose step is gone restarts its flow from the top. It
// reports whether it restarted one.
func (r *run) repair() bool {
	st := &r.out.State
	if st.Prog == r.p.Hash {
		return false
	}
	for i := range st.Stack {
		fr := &st.Stack[i]
		f := r.p.Flows[fr.Flow]
		if f == nil {
			st.Stack = st.Stack[:i]
			return false
		}
		if fr.PC < len(f.Steps) && f.Steps[fr.PC].Label == fr.Step {
			continue
		}
		st.Stack = st.Stack[:i+1]
		fr.PC, fr.Waiting, fr.Tries, fr.Calling = 0, false, 0, false
		fr.Step = label(f, 0)
		r.say(Say, r.opt.Restarted)
		return true
	}
	return false
}

// answer handles a message while the top frame waits for a slot.
func (r *run) answer(top *Frame) error {
	f := r.p.Flows[top.Flow]
	slot := f.Steps[top.PC].Slot
	if slot == nil {
		return &Error{Flow: top.Flow, Step: top.Step, Err: ErrState}
	}
	// A free-text slot takes any answer, so only an explicit keyword or
	// pattern of another rule or flow (转人工) can interrupt it; an intent
	// cannot (质量问题 is a fine answer to 退货原因).
	if slot.Kind == compile.SlotText {
		if g := r.p.MatchWords(r.msg.Text); g != nil && g.Name != top.Flow && r.msg.Event == "" {
			r.out.Handled = true
			if err := r.push(g.Name); err != nil {
				return err
			}
			return r.exec()
		}
	}
	v, ok, err := r.fill(f, top, slot, true)
	if err != nil {
		return err
	}
	r.out.Handled = true
	if ok {
		r.setLocal(top, slot.Name, v)
		top.Waiting, top.Tries = false, 0
		r.advance(top, f)
		return r.exec()
	}
	if g := r.match(); g != nil && g.Name != top.Flow {
		// An interruption: run the other flow on top; when it is done,
		// the pending question is asked again.
		if err := r.push(g.Name); err != nil {
			return err
		}
		return r.exec()
	}
	top.Tries++
	if top.Tries > slot.Retry {
		r.say(Say, r.opt.GiveUp)
		r.abandon()
		return r.exec()
	}
	t := slot.RetryText
	if t == nil {
		t = slot.Ask
	}
	if err := r.sayTemplate(Ask, f, top, t); err != nil {
		return err
	}
	n := len(r.out.Effects)
	if err := r.sayTemplate(Ask, f, top, slot.Ask); err != nil {
		return err
	}
	r.out.Reprompted, r.out.Pending = true, r.out.Effects[n].Text
	r.out.Effects = r.out.Effects[:n]
	return nil
}

// abandon pops the top frame and the callers waiting on it, back to a
// frame an interruption left waiting, if any.
func (r *run) abandon() {
	st := &r.out.State
	st.Stack = st.Stack[:len(st.Stack)-1]
	for len(st.Stack) > 0 && !st.Stack[len(st.Stack)-1].Waiting {
		st.Stack = st.Stack[:len(st.Stack)-1]
	}
}

// match finds the rule or flow a message starts: events, then keywords and
// patterns in file order, then the intent.
func (r *run) match() *compile.Flow {
	return r.p.Match(r.msg.Event, r.msg.Text, r.msg.Intent)
}

func (r *run) push(name string) error {
	st := &r.out.State
	if len(st.Stack) >= r.opt.MaxDepth {
		return r.fail(ErrDepth)
	}
	f := r.p.Flows[name]
	st.Stack = append(st.Stack, Frame{Flow: name, Step: label(f, 0)})
	return nil
}

func label(f *compile.Flow, pc int) string {
	if pc < len(f.Steps) {
		return f.Steps[pc].Label
	}
	return "end"
}

func (r *run) advance(fr *Frame, f *compile.Flow) { r.jump(fr, f, fr.PC+1) }

func (r *run) jump(fr *Frame, f *compile.Flow, pc int) {
	fr.PC = pc
	fr.Step = label(f, pc)
}

func (r *run) fail(err error) error {
	e := &Error{Err: err}
	if top := r.top(); top != nil {
		e.Flow, e.Step = top.Flow, top.Step
		if f := r.p.Flows[top.Flow]; f != nil && top.PC < len(f.Steps) {
			e.Pos = f.Steps[top.PC].Pos
		}
	}
	return e
}

// exec runs the top frame until it waits, calls, or the stack is empty.
func (r *run) exec() error {
	for {
		top := r.top()
		if top == nil {
			return nil
		}
		r.out.Steps++
		if r.out.Steps > r.opt.MaxSteps {
			return r.fail(ErrSteps)
		}
		if r.out.Steps%64 == 0 && r.opt.Now().Sub(r.start) > r.opt.MaxTime {
			return r.fail(ErrTime)
		}
		f := r.p.Flows[top.Flow]
		if f == nil {
			return r.fail(ErrState)
		}
		r.out.Flow, r.out.Step = top.Flow, label(f, top.PC)
		if top.PC >= len(f.Steps) {
			if done := r.pop(); done {
				return nil
			}
			continue
		}
		s := &f.Steps[top.PC]
		switch s.Op {
		case compile.OpSay, compile.OpAsk:
			kind := Say
			if s.Op == compile.OpAsk {
				kind = Ask
			}
			if err := r.sayTemplate(kind, f, top, s.Text); err != nil {
				return err
			}
			r.advance(top, f)
		case compile.OpSet:
			v, err := r.eval(f, top, s.Expr, nil)
			if err != nil {
				return err
			}
			if s.Dollar {
				if r.out.State.Vars == nil {
					r.out.State.Vars = map[string]any{}
				}
				r.out.State.Vars[s.Name] = v
			} else {
				r.setLocal(top, s.Name, v)
			}
			r.advance(top, f)
		case compile.OpGoto:
			if len(r.out.State.Stack) >= r.opt.MaxDepth {
				return r.fail(ErrDepth) // at the trigger step, before leaving it
			}
			r.advance(top, f)
			if err := r.push(s.Name); err != nil {
				return err
			}
		case compile.OpHandoff:
			r.out.Effects = append(r.out.Effects, Effect{Kind: Handoff, Queue: s.Queue})
			r.out.State.Stack = nil
			return nil
		case compile.OpEnd:
			if done := r.pop(); done {
				return nil
			}
		case compile.OpJump:
			r.jump(top, f, s.Target)
		case compile.OpJumpIfNot:
			v, err := r.eval(f, top, s.Expr, nil)
			if err != nil {
				return err
			}
			if b, _ := v.(bool); b {
				r.advance(top, f)
			} else {
				r.jump(top, f, s.Target)
			}
		case compile.OpSlot:
			if _, ok := top.Locals[s.Name]; ok {
				r.advance(top, f)
				continue
			}
			v, ok, err := r.fill(f, top, s.Slot, false)
			if err != nil {
				return err
			}
			if ok {
				r.setLocal(top, s.Name, v)
				r.advance(top, f)
				continue
			}
			top.Waiting, top.Tries = true, 0
			return r.sayTemplate(Ask, f, top, s.Slot.Ask)
		case compile.OpGenerate:
			n := len(r.out.Effects)
			if err := r.sayTemplate(Say, f, top, s.Text); err != nil {
				return err
			}
			prompt := r.out.Effects[n].Text
			r.out.Effects = r.out.Effects[:n]
			top.Calling = true
			r.out.Generate = &GenerateRequest{Prompt: prompt, Route: s.Name}
			return nil
		case compile.OpCall:
			req := &CallRequest{Service: s.Call.Service, Op: s.Call.Op, Timeout: time.Duration(s.Call.Timeout), Retry: s.Call.Retry}
			for i, a := range s.Call.Args {
				v, err := r.eval(f, top, a, nil)
				if err != nil {
					return err
				}
				if name := s.Call.Named[i]; name != "" {
					if req.Named == nil {
						req.Named = map[string]any{}
					}
					req.Named[name] = v
				} else {
					req.Positional = append(req.Positional, v)
				}
			}
			top.Calling = true
			r.out.Call = req
			return nil
		default:
			return r.fail(fmt.Errorf("%w: unknown op %d", ErrState, s.Op))
		}
	}
}

// pop finishes the top frame. It reports whether the run must stop: the
// stack is empty, or the frame below waits for an answer an interruption
// postponed, so its question is asked again.
func (r *run) pop() bool {
	st := &r.out.State
	st.Stack = st.Stack[:len(st.Stack)-1]
	top := r.top()
	if top == nil {
		return true
	}
	if top.Waiting {
		f := r.p.Flows[top.Flow]
		if s := f.Steps[top.PC].Slot; s != nil {
			n := len(r.out.Effects)
			if r.sayTemplate(Ask, f, top, s.Ask) == nil && len(r.out.Effects) > n {
				r.out.Effects[n].Resumed = true
			}
		}
		return true
	}
	return false
}

func (r *run) callResult(top *Frame, res *CallResult) error {
	f := r.p.Flows[top.Flow]
	if f == nil || top.PC >= len(f.Steps) || (f.Steps[top.PC].Op != compile.OpCall && f.Steps[top.PC].Op != compile.OpGenerate) {
		return r.fail(ErrState)
	}
	s := &f.Steps[top.PC]
	top.Calling = false
	if s.Op == compile.OpGenerate {
		text, _ := res.Value.(string)
		if res.Err != nil || strings.TrimSpace(text) == "" {
			text = r.opt.GenerateKO
		}
		r.say(Say, strings.TrimSpace(text))
		r.advance(top, f)
		return nil
	}
	if res.Err == nil {
		if s.Call.Result != "" {
			r.setLocal(top, s.Call.Result, res.Value)
		}
		r.advance(top, f)
		return nil
	}
	if s.Target >= 0 {
		r.jump(top, f, s.Target)
		return nil
	}
	r.say(Say, r.opt.ServiceError)
	r.abandon()
	return nil
}

// fill tries to take a slot's value from the message. A slot with no
// validation takes the whole message, but only as the answer to its own
// question.
func (r *run) fill(f *compile.Flow, fr *Frame, s *compile.Slot, answer bool) (any, bool, error) {
	if r.msg.Event != "" {
		return nil, false, nil
	}
	var v any
	switch s.Kind {
	case compile.SlotText:
		t := strings.TrimSpace(r.msg.Original)
		if !answer || t == "" {
			return nil, false, nil
		}
		v = t
	case compile.SlotRegex:
		m := s.Regex.FindString(r.msg.Text)
		if m == "" {
			return nil, false, nil
		}
		v = m
	case compile.SlotEntity:
		for _, e := range r.msg.Entities {
			if e.Type != s.Type {
				continue
			}
			if s.Number {
				n, err := strconv.ParseFloat(e.Value, 64)
				if err != nil {
					continue
				}
				v = n
			} else {
				v = e.Value
			}
			break
		}
		if v == nil {
			return nil, false, nil
		}
	}
	if s.Where != nil {
		ok, err := r.eval(f, fr, s.Where, map[string]any{s.Name: v})
		if err != nil {
			return nil, false, err
		}
		if b, _ := ok.(bool); !b {
			return nil, false, nil
		}
	}
	return v, true, nil
}

func (r *run) setLocal(fr *Frame, name string, v any) {
	if fr.Locals == nil {
		fr.Locals = map[string]any{}
	}
	fr.Locals[name] = v
}

func (r *run) say(kind EffectKind, text string) {
	r.out.Effects = append(r.out.Effects, Effect{Kind: kind, Text: text})
}

func (r *run) sayTemplate(kind EffectKind, f *compile.Flow, fr *Frame, t *compile.Template) error {
	if t == nil {
		return nil
	}
	var b strings.Builder
	for _, p := range t.Parts {
		if p.Expr == nil {
			b.WriteString(p.Text)
			continue
		}
		v, err := r.eval(f, fr, p.Expr, nil)
		if err != nil {
			return err
		}
		b.WriteString(Format(v))
	}
	r.say(kind, b.String())
	return nil
}

// Format renders a value in a reply: numbers without trailing zeros,
// nothing for nil.
func Format(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "是"
		}
		return "否"
	}
	return fmt.Sprint(v)
}

// eval runs a compiled expression in the frame's environment.
func (r *run) eval(f *compile.Flow, fr *Frame, c *compile.Cond, extra map[string]any) (any, error) {
	if c == nil || c.Prog == nil {
		return nil, r.fail(fmt.Errorf("%w: uncompiled expression", ErrState))
	}
	env := make(map[string]any, len(f.Env)+8)
	maps.Copy(env, f.Env)
	for _, v := range r.p.Vars {
		env["$"+v.Name] = v.Value
	}
	for k, v := range r.out.State.Vars {
		env["$"+k] = v
	}
	for k, v := range fr.Locals {
		if _, ok := env[k]; ok {
			env[k] = v
		}
	}
	maps.Copy(env, extra)
	env["intent"] = r.msg.Intent
	env["confidence"] = r.msg.Confidence
	env["text"] = r.msg.Text
	env["original"] = r.msg.Original
	env["channel"] = r.msg.Channel
	ents := make(map[string][]string, len(r.msg.Entities))
	for _, e := range r.msg.Entities {
		ents[e.Type] = append(ents[e.Type], e.Value)
	}
	env["entities"] = ents
	v, err := expr.Run(c.Prog, env)
	if err != nil {
		e := r.fail(err).(*Error)
		e.Pos = c.Pos
		return nil, e
	}
	return v, nil
}
