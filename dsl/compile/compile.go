package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/source"
)

// Schema is what the compiler needs to know about the bot around the flows.
type Schema struct {
	// Intents the classifier knows; empty skips the intent check.
	Intents []string
	// Entities are the entity types the engine extracts (built-ins and
	// config); types declared in flow files are added to them.
	Entities []string
	// Services maps each configured business service to its operations
	// and their parameters. A call to anything else is an error.
	Services map[string]map[string][]string
	// Routes are the configured provider routes `generate … via` may name;
	// DefaultRoute is the generative fallback's ("" when generation is
	// off, so a generate without via is an error).
	Routes       []string
	DefaultRoute string
}

// numberTypes are entity types whose values conditions see as numbers.
var numberTypes = map[string]bool{"number": true, "amount": true}

// Builtins are the names every condition sees besides slots and variables.
var Builtins = map[string]any{
	"intent":     "",
	"confidence": 0.0,
	"text":       "",
	"original":   "",
	"channel":    "",
	"entities":   map[string][]string{},
}

// Limits on what business users can write.
const (
	maxExprNodes = 256
	maxRetry     = 10
)

type compiler struct {
	schema   Schema
	prog     *Program
	errs     source.ErrorList
	file     *ast.File
	flowAST  map[string]*ast.Flow
	flowFile map[string]*ast.File
	flowPos  map[string]source.Position
	vars     map[string]bool // session variables, without $
	varPos   map[string]source.Position
	entities map[string]bool
	intents  map[string]bool
	targeted map[string]bool // flows some trigger statement names
	trigPos  map[string]source.Position
	flow     *Flow // being lowered
	env      types.Map
}

// Compile checks and compiles parsed files into a Program. It reports every
// error it finds, sorted; the Program is nil when there are errors.
func Compile(files []*ast.File, schema Schema) (*Program, source.ErrorList) {
	c := &compiler{
		schema:   schema,
		prog:     &Program{Flows: map[string]*Flow{}, intents: map[string]*Flow{}, events: map[string]*Flow{}},
		flowAST:  map[string]*ast.Flow{},
		flowFile: map[string]*ast.File{},
		flowPos:  map[string]source.Position{},
		vars:     map[string]bool{},
		varPos:   map[string]source.Position{},
		entities: map[string]bool{},
		intents:  map[string]bool{},
		targeted: map[string]bool{},
		trigPos:  map[string]source.Position{},
	}
	for _, t := range schema.Entities {
		c.entities[t] = true
	}
	for _, t := range schema.Intents {
		c.intents[t] = true
	}
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Src.Name, len(f.Src.Src))
		h.Write(f.Src.Src)
		c.declare(f)
	}
	c.prog.Hash = hex.EncodeToString(h.Sum(nil))[:16]
	for _, f := range files {
		c.file = f
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.Rule:
				c.rule(d)
			case *ast.Flow:
				c.lowerFlow(d)
			case *ast.Var:
				c.varDecl(d)
			}
		}
	}
	c.unused()
	c.errs.Sort()
	c.errs.Dedup()
	if len(c.errs) > source.MaxErrors {
		c.errs = c.errs[:source.MaxErrors]
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return c.prog, nil
}

func (c *compiler) pos(p source.Pos) source.Position { return c.file.Src.Position(p) }

func (c *compiler) errorf(p source.Pos, n int, hint, format string, args ...any) {
	pos := c.pos(p)
	e := c.errs.Add(pos, fmt.Sprintf(format, args...), hint)
	e.Len = n
	e.Line = c.file.Src.Line(pos.Line)
}

// declare records every name a file declares, so uses may come before
// declarations and across files.
func (c *compiler) declare(f *ast.File) {
	c.file = f
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.Flow:
			if d.Name == nil {
				continue
			}
			name := d.Name.Name
			if prev, ok := c.flowPos[name]; ok {
				c.errorf(d.Name.Pos, runes(name), fmt.Sprintf("rename one of them; the first is at %s", short(prev)), "duplicate flow %q", name)
				continue
			}
			c.flowPos[name] = c.pos(d.Name.Pos)
			c.flowAST[name] = d
			c.flowFile[name] = f
		case *ast.Entity:
			c.entityDecl(d)
		case *ast.Var:
			if d.Name != nil {
				if prev, ok := c.varPos[d.Name.Name]; ok {
					c.errorf(d.Name.Pos, runes(d.Name.Name)+1, "declare each variable once; the first is at "+short(prev), "duplicate variable $%s", d.Name.Name)
				}
				c.varPos[d.Name.Name] = c.pos(d.Name.Pos)
				c.vars[d.Name.Name] = true
			}
		}
	}
	walkFile(f, func(s ast.Stmt) {
		if s, ok := s.(*ast.Set); ok && s.Name != nil && s.Name.Dollar {
			c.vars[s.Name.Name] = true
		}
	})
}

func (c *compiler) entityDecl(d *ast.Entity) {
	if d.Name == nil {
		return
	}
	name := d.Name.Name
	for _, e := range c.prog.Entities {
		if e.Name == name {
			c.errorf(d.Name.Pos, runes(name), "declare each entity once; the first is at "+short(e.Pos), "duplicate entity %q", name)
			return
		}
	}
	if numberTypes[name] || (c.entities[name] && !c.declaredEntity(name)) {
		c.errorf(d.Name.Pos, runes(name), "choose another name", "entity %q is built in", name)
		return
	}
	e := Entity{Name: name, Pos: c.pos(d.Name.Pos)}
	switch {
	case d.Regex != nil:
		if _, err := regexp.Compile(d.Regex.Pattern); err != nil {
			return // the parser reported it
		}
		e.Pattern = d.Regex.Pattern
	case len(d.Values) > 0:
		e.Values = map[string][]string{}
		for _, v := range d.Values {
			if v.Value == nil {
				continue
			}
			var syn []string
			for _, s := range v.Synonyms {
				syn = append(syn, s.Value)
			}
			e.Values[v.Value.Value] = append(e.Values[v.Value.Value], syn...)
		}
	default:
		c.errorf(d.Pos, 6, `give a pattern (entity 快递单号 /SF\d{12}/) or indented values (红色: 红, 大红)`, "entity %q has no pattern and no values", name)
		return
	}
	c.prog.Entities = append(c.prog.Entities, e)
	c.entities[name] = true
}

func (c *compiler) declaredEntity(name string) bool {
	for _, e := range c.prog.Entities {
		if e.Name == name {
			return true
		}
	}
	return false
}

func (c *compiler) varDecl(d *ast.Var) {
	if d.Name == nil || d.Value == nil {
		return
	}
	cond := c.expr(d.Value, types.Map{}, false)
	if cond.Prog == nil {
		return
	}
	v, err := expr.Run(cond.Prog, map[string]any{})
	if err != nil {
		c.errorf(d.Value.Pos, runes(d.Value.Src), `an initial value is a constant: var $会员等级 = "普通"`, "bad initial value: %v", err)
		return
	}
	c.prog.Vars = append(c.prog.Vars, Var{Name: d.Name.Name, Value: v})
}

// rule lowers a one-line rule to a flow named after its position.
func (c *compiler) rule(r *ast.Rule) {
	pos := c.pos(r.Pos)
	f := &Flow{Name: fmt.Sprintf("%s:%d", baseName(pos.File), pos.Line), Rule: true, Pos: pos, Slots: map[string]*Slot{}, names: map[string]bool{}}
	c.addFlow(f)
	c.flow = f
	c.locals([]ast.Stmt{r.Body})
	c.env = c.envFor(f)
	c.block([]ast.Stmt{r.Body})
	c.triggers(f, r.Triggers)
}

func (c *compiler) addFlow(f *Flow) {
	c.prog.Flows[f.Name] = f
	c.prog.order = append(c.prog.order, f.Name)
}

func (c *compiler) lowerFlow(d *ast.Flow) {
	if d.Name == nil || c.flowAST[d.Name.Name] != d {
		return // unnamed or a duplicate, already reported
	}
	f := &Flow{Name: d.Name.Name, Pos: c.pos(d.Name.Pos), Slots: map[string]*Slot{}, names: map[string]bool{}}
	c.addFlow(f)
	c.flow = f
	c.locals(d.Body)
	c.env = c.envFor(f)
	c.block(d.Body)
	for _, on := range d.On {
		c.triggers(f, on.Triggers)
	}
	if (len(d.Body) == 0 || onlyComments(d.Body)) && !c.file.Partial {
		c.errorf(d.Name.Pos, runes(f.Name), `add steps under it, indented: say "…", slot …, call …`, "flow %q has no steps", f.Name)
	}
}

// locals collects the names a flow binds: slots, call results and set targets.
func (c *compiler) locals(body []ast.Stmt) {
	seen := map[string]source.Pos{}
	walk(body, func(s ast.Stmt) {
		switch s := s.(type) {
		case *ast.Slot:
			if s.Name == nil {
				return
			}
			if p, ok := seen["slot:"+s.Name.Name]; ok {
				c.errorf(s.Name.Pos, runes(s.Name.Name), "a flow asks for each slot once; the first is at "+short(c.pos(p)), "duplicate slot %q", s.Name.Name)
				return
			}
			seen["slot:"+s.Name.Name] = s.Name.Pos
			c.flow.names[s.Name.Name] = true
		case *ast.Call:
			if s.Result != nil {
				c.flow.names[s.Result.Name] = true
			}
		case *ast.Set:
			if s.Name != nil && !s.Name.Dollar {
				c.flow.names[s.Name.Name] = true
			}
		}
	})
}

// envFor builds the typed environment conditions of f compile against, and
// the zero values the runtime starts each evaluation from. Slots are text,
// or numbers for the number and amount entity types; call results, locals
// and session variables may hold anything.
func (c *compiler) envFor(f *Flow) types.Map {
	env := types.Map{}
	f.Env = map[string]any{}
	for k, v := range Builtins {
		env[k] = types.TypeOf(v)
	}
	for v := range c.vars {
		env["$"+v] = types.Any
	}
	for n := range f.names {
		env[n] = types.Any
		f.Env[n] = nil
	}
	walkSlots(c.flowAST[f.Name], func(s *ast.Slot) {
		if s.Name == nil {
			return
		}
		if s.Type != nil && numberTypes[s.Type.Name] {
			env[s.Name.Name], f.Env[s.Name.Name] = types.Float64, 0.0
		} else {
			env[s.Name.Name], f.Env[s.Name.Name] = types.String, ""
		}
	})
	return env
}

func (c *compiler) triggers(f *Flow, ts []*ast.Trigger) {
	for _, t := range ts {
		switch t.Kind {
		case ast.TriggerIntent:
			if t.Name == nil {
				continue
			}
			name := t.Name.Name
			if len(c.intents) > 0 && !c.intents[name] {
				c.errorf(t.Name.Pos, runes(name), c.suggest(name, keys(c.intents), "the model knows: "+list(keys(c.intents), 8)), "unknown intent %q", name)
				continue
			}
			key := "intent:" + name
			if prev, ok := c.trigPos[key]; ok {
				c.errorf(t.Name.Pos, runes(name), "one intent starts one flow; the first is at "+short(prev), "intent %q already starts %q", name, c.prog.intents[name].Name)
				continue
			}
			c.trigPos[key] = c.pos(t.Name.Pos)
			c.prog.intents[name] = f
		case ast.TriggerEvent:
			if t.Name == nil {
				continue
			}
			key := "event:" + t.Name.Name
			if prev, ok := c.trigPos[key]; ok {
				c.errorf(t.Name.Pos, runes(t.Name.Name), "one event starts one flow; the first is at "+short(prev), "event %q already starts %q", t.Name.Name, c.prog.events[t.Name.Name].Name)
				continue
			}
			c.trigPos[key] = c.pos(t.Name.Pos)
			c.prog.events[t.Name.Name] = f
		case ast.TriggerKeyword:
			if t.Keyword == nil {
				continue
			}
			w := strings.ToLower(strings.TrimSpace(t.Keyword.Value))
			if w == "" {
				c.errorf(t.Keyword.Pos, 2, `write the words to look for: "退货"`, "empty keyword")
				continue
			}
			key := "keyword:" + w
			if prev, ok := c.trigPos[key]; ok {
				c.errorf(t.Keyword.Pos, runes(t.Keyword.Value)+2, "the first rule with it always wins; the first is at "+short(prev), "keyword %q is already a trigger", t.Keyword.Value)
				continue
			}
			c.trigPos[key] = c.pos(t.Keyword.Pos)
			c.prog.keywords = append(c.prog.keywords, keywordTrigger{word: w, flow: f})
		case ast.TriggerRegex:
			if t.Regex == nil {
				continue
			}
			re, err := regexp.Compile(t.Regex.Pattern)
			if err != nil {
				continue // the parser reported it
			}
			c.prog.regexes = append(c.prog.regexes, regexTrigger{re: re, flow: f})
		}
	}
}

// unused reports flows nothing can start.
func (c *compiler) unused() {
	started := map[string]bool{}
	for _, f := range c.prog.intents {
		started[f.Name] = true
	}
	for _, f := range c.prog.events {
		started[f.Name] = true
	}
	for _, k := range c.prog.keywords {
		started[k.flow.Name] = true
	}
	for _, r := range c.prog.regexes {
		started[r.flow.Name] = true
	}
	for name, d := range c.flowAST {
		// A flow with trigger lines that did not resolve has errors there.
		if started[name] || c.targeted[name] || c.prog.Flows[name] == nil || len(d.On) > 0 || c.flowFile[name].Partial {
			continue
		}
		c.file = c.flowFile[name]
		c.errorf(d.Name.Pos, runes(name), fmt.Sprintf("add a trigger line under it (on intent %s) or start it from another flow (trigger %s)", name, name), "flow %q is never started", name)
	}
}

// block lowers statements, reporting those that can never run.
func (c *compiler) block(body []ast.Stmt) {
	dead := false
	for _, s := range body {
		if _, ok := s.(*ast.Comment); ok || s == nil {
			continue
		}
		if dead {
			p, n := stmtPos(s)
			c.errorf(p, n, "remove it, or move it before the end or handoff above it", "unreachable statement")
			return
		}
		c.stmt(s)
		dead = terminates(s)
	}
}

// terminates reports whether control never passes s.
func terminates(s ast.Stmt) bool {
	switch s := s.(type) {
	case *ast.End, *ast.Handoff:
		return true
	case *ast.If:
		if s.Else == nil {
			return false
		}
		for _, cl := range s.Clauses {
			if !blockTerminates(cl.Body) {
				return false
			}
		}
		return blockTerminates(s.Else)
	}
	return false
}

func blockTerminates(body []ast.Stmt) bool {
	for _, s := range body {
		if terminates(s) {
			return true
		}
	}
	return false
}

func (c *compiler) emit(s Step) int {
	c.flow.Steps = append(c.flow.Steps, s)
	return len(c.flow.Steps) - 1
}

func (c *compiler) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.Say:
		c.emit(Step{Op: OpSay, Pos: c.pos(s.Pos), Label: c.label("say", s.Pos), Text: c.template(s.Text)})
	case *ast.Ask:
		c.emit(Step{Op: OpAsk, Pos: c.pos(s.Pos), Label: c.label("ask", s.Pos), Text: c.template(s.Text)})
	case *ast.Set:
		if s.Name == nil || s.Value == nil {
			return
		}
		if s.Name.Dollar {
			// Session variables may hold anything.
		} else if _, ok := Builtins[s.Name.Name]; ok {
			c.errorf(s.Name.Pos, runes(s.Name.Name), "choose another name; "+s.Name.Name+" is given by kefu", "cannot set %q", s.Name.Name)
			return
		}
		c.emit(Step{Op: OpSet, Pos: c.pos(s.Pos), Label: "set " + identString(s.Name), Name: s.Name.Name, Dollar: s.Name.Dollar, Expr: c.expr(s.Value, c.env, false)})
	case *ast.Goto:
		if s.Flow == nil {
			return
		}
		name := s.Flow.Name
		if _, ok := c.flowAST[name]; !ok {
			c.errorf(s.Flow.Pos, runes(name), c.suggest(name, keys(c.flowAST), "declare it: flow "+name), "unknown flow %q", name)
			return
		}
		if name == c.flow.Name {
			c.errorf(s.Flow.Pos, runes(name), "a flow cannot start itself; use a slot with retry to ask again", "flow %q triggers itself", name)
			return
		}
		c.targeted[name] = true
		c.emit(Step{Op: OpGoto, Pos: c.pos(s.Pos), Label: "trigger " + name, Name: name})
	case *ast.Handoff:
		st := Step{Op: OpHandoff, Pos: c.pos(s.Pos), Label: "handoff"}
		if s.Queue != nil {
			st.Queue = s.Queue.Value
		}
		c.emit(st)
	case *ast.End:
		c.emit(Step{Op: OpEnd, Pos: c.pos(s.Pos), Label: "end"})
	case *ast.Generate:
		st := Step{Op: OpGenerate, Pos: c.pos(s.Pos), Label: c.label("generate", s.Pos), Text: c.template(s.Prompt)}
		switch {
		case s.Route != nil:
			if !contains(c.schema.Routes, s.Route.Name) {
				hint := "declare it under routes: in kefu.yaml"
				if len(c.schema.Routes) > 0 {
					hint = c.suggest(s.Route.Name, c.schema.Routes, "configured routes: "+list(c.schema.Routes, 8))
				}
				c.errorf(s.Route.Pos, runes(s.Route.Name), hint, "unknown route %q", s.Route.Name)
			}
			st.Name = s.Route.Name
		case c.schema.DefaultRoute == "":
			c.errorf(s.Pos, 8, "set generate.route in kefu.yaml, or name a route: generate \"…\" via 路由", "generate has no route: generation is off")
		}
		c.emit(st)
	case *ast.If:
		c.ifStmt(s)
	case *ast.Slot:
		c.slot(s)
	case *ast.Call:
		c.call(s)
	}
}

func (c *compiler) label(op string, p source.Pos) string {
	return fmt.Sprintf("%s@%d", op, c.pos(p).Line)
}

func (c *compiler) ifStmt(s *ast.If) {
	var ends []int
	for _, cl := range s.Clauses {
		if cl.Cond == nil {
			continue
		}
		j := c.emit(Step{Op: OpJumpIfNot, Pos: c.pos(cl.Pos), Label: c.label("if", cl.Pos), Expr: c.expr(cl.Cond, c.env, true)})
		c.block(cl.Body)
		ends = append(ends, c.emit(Step{Op: OpJump, Pos: c.pos(cl.Pos), Label: c.label("if", cl.Pos)}))
		c.flow.Steps[j].Target = len(c.flow.Steps)
	}
	if s.Else != nil {
		c.block(s.Else)
	}
	for _, j := range ends {
		c.flow.Steps[j].Target = len(c.flow.Steps)
	}
}

func (c *compiler) slot(s *ast.Slot) {
	if s.Name == nil {
		return
	}
	sl := &Slot{Name: s.Name.Name, Retry: 2}
	switch {
	case s.Regex != nil:
		re, err := regexp.Compile(s.Regex.Pattern)
		if err != nil {
			re = regexp.MustCompile(`$^`) // the parser reported it; match nothing
		}
		sl.Kind, sl.Regex = SlotRegex, re
	case s.Type != nil:
		t := s.Type.Name
		if !c.entities[t] {
			c.errorf(s.Type.Pos, runes(t), c.suggest(t, keys(c.entities), "entity types: "+list(keys(c.entities), 12)), "unknown entity type %q", t)
		}
		sl.Kind, sl.Type, sl.Number = SlotEntity, t, numberTypes[t]
	}
	if s.Where != nil {
		sl.Where = c.expr(s.Where, c.env, true)
	}
	if s.Ask != nil {
		sl.Ask = c.template(s.Ask)
	} else {
		sl.Ask = &Template{Parts: []TemplatePart{{Text: "请提供" + sl.Name + "。"}}}
	}
	if s.Retry >= 0 {
		if s.Retry > maxRetry {
			c.errorf(s.RetryPos, 5, fmt.Sprintf("at most %d", maxRetry), "too many retries: %d", s.Retry)
		}
		sl.Retry = s.Retry
	}
	if s.RetryText != nil {
		sl.RetryText = c.template(s.RetryText)
	}
	c.flow.Slots[sl.Name] = sl
	c.emit(Step{Op: OpSlot, Pos: c.pos(s.Pos), Label: "slot " + sl.Name, Name: sl.Name, Slot: sl})
}

func (c *compiler) call(s *ast.Call) {
	if s.Service == nil || s.Op == nil {
		return
	}
	svc, op := s.Service.Name, s.Op.Name
	cl := &Call{Service: svc, Op: op, Retry: s.Retry}
	ops, ok := c.schema.Services[svc]
	var params []string
	switch {
	case !ok:
		hint := "declare it under services: in kefu.yaml"
		if len(c.schema.Services) > 0 {
			hint = c.suggest(svc, keys(c.schema.Services), "configured services: "+list(keys(c.schema.Services), 8))
		}
		c.errorf(s.Service.Pos, runes(svc), hint, "unknown service %q", svc)
	default:
		params, ok = ops[op]
		if !ok {
			c.errorf(s.Op.Pos, runes(op), c.suggest(op, keys(ops), svc+" has: "+list(keys(ops), 8)), "unknown operation %s.%s", svc, op)
		} else if len(params) > 0 && len(s.Args) > len(params) {
			c.errorf(s.Pos, 4, fmt.Sprintf("%s.%s takes (%s)", svc, op, strings.Join(params, ", ")), "too many arguments: %d", len(s.Args))
		}
	}
	for _, a := range s.Args {
		name := ""
		if a.Name != nil {
			name = a.Name.Name
			if params != nil && !contains(params, name) {
				c.errorf(a.Name.Pos, runes(name), c.suggest(name, params, "parameters: "+strings.Join(params, ", ")), "%s.%s has no parameter %q", svc, op, name)
			}
		}
		cl.Args = append(cl.Args, c.expr(a.Value, c.env, false))
		cl.Named = append(cl.Named, name)
	}
	if s.Result != nil {
		cl.Result = s.Result.Name
	}
	if s.Timeout != nil {
		if s.Timeout.Value <= 0 || s.Timeout.Value > time.Minute {
			c.errorf(s.Timeout.Pos, runes(s.Timeout.Raw), "between 1ms and 1m", "timeout out of range: %s", s.Timeout.Raw)
		}
		cl.Timeout = int64(s.Timeout.Value)
	}
	if s.Retry > maxRetry {
		c.errorf(s.RetryPos, 5, fmt.Sprintf("at most %d", maxRetry), "too many retries: %d", s.Retry)
	}
	i := c.emit(Step{Op: OpCall, Pos: c.pos(s.Pos), Label: "call " + svc + "." + op, Call: cl, Target: -1})
	if s.OnError != nil {
		j := c.emit(Step{Op: OpJump, Pos: c.pos(s.ErrorPos), Label: c.label("on error", s.ErrorPos)})
		c.flow.Steps[i].Target = len(c.flow.Steps)
		c.block(s.OnError)
		c.flow.Steps[j].Target = len(c.flow.Steps)
	}
}

// template compiles the holes of a say/ask text.
func (c *compiler) template(t *ast.Template) *Template {
	if t == nil {
		return nil
	}
	out := &Template{}
	for _, p := range t.Parts {
		if p.Expr == nil {
			out.Parts = append(out.Parts, TemplatePart{Text: p.Text})
			continue
		}
		out.Parts = append(out.Parts, TemplatePart{Expr: c.expr(p.Expr, c.env, false)})
	}
	return out
}

// expr compiles one expression against env, mapping expr's errors into the
// flow file's coordinates.
func (c *compiler) expr(e *ast.Expr, env types.Map, asBool bool) *Cond {
	if e == nil {
		return nil
	}
	opts := []expr.Option{expr.Env(env), expr.MaxNodes(maxExprNodes)}
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(e.Src, opts...)
	if err != nil {
		c.exprError(e, env, err)
		return &Cond{Src: e.Src, Pos: c.pos(e.Pos)}
	}
	return &Cond{Src: e.Src, Pos: c.pos(e.Pos), Prog: prog}
}

var (
	unknownName = regexp.MustCompile(`^unknown name (\S+)`)
	mismatched  = regexp.MustCompile(`mismatched types`)
	notBool     = regexp.MustCompile(`expected bool`)
)

func (c *compiler) exprError(e *ast.Expr, env types.Map, err error) {
	var fe *file.Error
	if !errors.As(err, &fe) {
		hint := ""
		if notBool.MatchString(err.Error()) {
			hint = `a condition must be true or false, e.g. 订单.状态 == "已发货"`
		}
		c.errorf(e.Pos, runes(e.Src), hint, "%v", err)
		return
	}
	// Location.From counts runes from the start of the expression.
	off := int(e.Pos)
	for i := 0; i < fe.From && off < len(c.file.Src.Src); i++ {
		_, n := utf8.DecodeRune(c.file.Src.Src[off:])
		off += n
	}
	msg := fe.Message
	hint := ""
	n := 1
	switch {
	case unknownName.MatchString(msg):
		name := unknownName.FindStringSubmatch(msg)[1]
		n = runes(name)
		if strings.HasPrefix(name, "$") {
			hint = c.suggest(name, keys(env), "declare it: var "+name+` = ""`)
		} else {
			hint = c.suggest(name, keys(env), "conditions see the flow's slots, call results, $variables and "+list(keys(Builtins), 8))
		}
		msg = "unknown name " + name
	case mismatched.MatchString(msg):
		hint = "compare like with like: slot values are text unless the slot's type is number or amount"
	case notBool.MatchString(msg):
		hint = `a condition must be true or false, e.g. 订单.状态 == "已发货"`
	case strings.Contains(msg, "unexpected token EOF"):
		msg, hint = "incomplete expression", "something is missing at the end, e.g. a value after an operator"
	}
	pos := c.pos(source.Pos(off))
	er := c.errs.Add(pos, msg, hint)
	er.Len = n
	er.Line = c.file.Src.Line(pos.Line)
}

// suggest returns a did-you-mean hint, or fallback.
func (c *compiler) suggest(name string, have []string, fallback string) string {
	if s := Closest(name, have); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return fallback
}

// Closest returns the candidate nearest to name by edit distance over runes,
// or "" when none is near enough to be a likely typo.
func Closest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	rn := []rune(name)
	for _, cand := range candidates {
		d := distance(rn, []rune(cand))
		limit := max(1, min(len(rn), utf8.RuneCountInString(cand))/3)
		if d > limit || d >= len(rn) {
			continue
		}
		// On a tie, a candidate of the same length is the likelier typo.
		if d < bestD || d == bestD && utf8.RuneCountInString(cand) == len(rn) && utf8.RuneCountInString(best) != len(rn) {
			best, bestD = cand, d
		}
	}
	return best
}

func distance(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func list(names []string, n int) string {
	if len(names) == 0 {
		return "(none)"
	}
	if len(names) > n {
		return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
	}
	return strings.Join(names, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func short(p source.Position) string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

func baseName(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[i+1:]
	}
	return path
}

func identString(id *ast.Ident) string {
	if id.Dollar {
		return "$" + id.Name
	}
	return id.Name
}

func onlyComments(body []ast.Stmt) bool {
	for _, s := range body {
		if _, ok := s.(*ast.Comment); !ok {
			return false
		}
	}
	return true
}

// stmtPos returns where a statement starts and how long its keyword is.
func stmtPos(s ast.Stmt) (source.Pos, int) {
	switch s := s.(type) {
	case *ast.Say:
		return s.Pos, 3
	case *ast.Ask:
		return s.Pos, 3
	case *ast.Set:
		return s.Pos, 3
	case *ast.Goto:
		return s.Pos, 7
	case *ast.Handoff:
		return s.Pos, 7
	case *ast.Generate:
		return s.Pos, 8
	case *ast.End:
		return s.Pos, 3
	case *ast.If:
		return s.Pos, 2
	case *ast.Slot:
		return s.Pos, 4
	case *ast.Call:
		return s.Pos, 4
	}
	return source.NoPos, 0
}

func walkFile(f *ast.File, fn func(ast.Stmt)) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.Rule:
			walk([]ast.Stmt{d.Body}, fn)
		case *ast.Flow:
			walk(d.Body, fn)
		}
	}
}

// walk calls fn for every statement, nested ones included.
func walk(body []ast.Stmt, fn func(ast.Stmt)) {
	for _, s := range body {
		if s == nil {
			continue
		}
		fn(s)
		switch s := s.(type) {
		case *ast.If:
			for _, cl := range s.Clauses {
				walk(cl.Body, fn)
			}
			walk(s.Else, fn)
		case *ast.Call:
			walk(s.OnError, fn)
		}
	}
}

func walkSlots(f *ast.Flow, fn func(*ast.Slot)) {
	if f == nil {
		return
	}
	walk(f.Body, func(s ast.Stmt) {
		if s, ok := s.(*ast.Slot); ok {
			fn(s)
		}
	})
}
