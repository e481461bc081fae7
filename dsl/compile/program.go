package compile

import (
	"regexp"
	"strings"

	"github.com/expr-lang/expr/vm"

	"github.com/kefu-chat/kefu/dsl/source"
)

// Program is a compiled set of flow files. It is immutable and safe for
// concurrent use by any number of runtimes, like expr's vm.Program.
type Program struct {
	Hash     string           // sha256 of the sources; sessions record it to resume across reloads
	Flows    map[string]*Flow // by name; rules are flows too, named after their file and line
	Entities []Entity         // custom entities declared in flows, for the engine's extractor
	Vars     []Var            // declared session variables and their initial values

	keywords []keywordTrigger // in file order
	regexes  []regexTrigger
	intents  map[string]*Flow
	events   map[string]*Flow
	order    []string // flow names in file order
}

// Flow is a rule or a flow lowered to a list of steps.
type Flow struct {
	Name  string
	Rule  bool // a one-line `when … then …` rule
	Pos   source.Position
	Steps []Step
	Slots map[string]*Slot
	// Env holds the zero value of every name the flow's conditions see,
	// typed as the compiler checked them; the runtime starts from a copy.
	Env   map[string]any
	names map[string]bool // locals visible to conditions
}

// Op is what a step does.
type Op uint8

const (
	OpSay       Op = iota + 1 // Text
	OpAsk                     // Text
	OpSet                     // Name, Dollar, Expr
	OpGoto                    // Name: push a flow, come back after it
	OpHandoff                 // Queue
	OpEnd                     // finish the current flow
	OpJump                    // Target
	OpJumpIfNot               // Expr, Target
	OpSlot                    // Slot
	OpCall                    // Call; Target is the error block, or -1
	OpGenerate                // Text (the prompt), Name (the route, "" for the default)
)

var opNames = [...]string{OpSay: "say", OpAsk: "ask", OpSet: "set", OpGoto: "trigger", OpHandoff: "handoff", OpEnd: "end", OpJump: "jump", OpJumpIfNot: "if", OpSlot: "slot", OpCall: "call", OpGenerate: "generate"}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return "op?"
}

// Step is one instruction. Label names it in traces ("slot 订单号",
// "call 订单服务.查询", "say@12"); a session stores it beside its step
// index to notice when a reload changed the flow under it.
type Step struct {
	Op     Op
	Pos    source.Position
	Label  string
	Text   *Template
	Expr   *Cond
	Name   string
	Dollar bool
	Queue  string
	Target int
	Slot   *Slot
	Call   *Call
}

// Cond is a compiled expr program with its source, for error messages.
type Cond struct {
	Src  string
	Pos  source.Position
	Prog *vm.Program
}

// Template is text with compiled holes.
type Template struct {
	Parts []TemplatePart
}

// TemplatePart is literal text or a hole.
type TemplatePart struct {
	Text string
	Expr *Cond
}

// SlotKind says how a slot validates an answer.
type SlotKind uint8

const (
	SlotText   SlotKind = iota // any non-empty answer, taken as typed
	SlotRegex                  // the first match of Regex in the normalized text
	SlotEntity                 // the first entity of type Type
)

// Slot is a value a flow asks for.
type Slot struct {
	Name      string
	Kind      SlotKind
	Regex     *regexp.Regexp
	Type      string
	Number    bool // the value is a number (entity types number and amount)
	Where     *Cond
	Ask       *Template
	Retry     int
	RetryText *Template
}

// Call is a business service operation with its compiled arguments.
type Call struct {
	Service string
	Op      string
	Args    []*Cond  // positional arguments
	Named   []string // names of named arguments, parallel to the tail of Args; "" for positional
	Result  string
	Timeout int64 // nanoseconds; 0 means the service's default
	Retry   int   // -1 means the service's default
}

// Entity is a custom entity declared in a flow file.
type Entity struct {
	Name    string
	Pos     source.Position
	Pattern string              // regex, or
	Values  map[string][]string // canonical value -> synonyms
}

// Var is a declared session variable.
type Var struct {
	Name  string // without $
	Value any    // the initial value
}

type keywordTrigger struct {
	word string // lower-cased
	flow *Flow
}

type regexTrigger struct {
	re   *regexp.Regexp
	flow *Flow
}

// FlowNames lists flows and rules in file order.
func (p *Program) FlowNames() []string { return p.order }

// Match returns the rule or flow a message starts, or nil: the event's flow
// for an event; else the first keyword or pattern in file order found in the
// normalized text; else the intent's flow.
func (p *Program) Match(event, text, intent string) *Flow {
	if event != "" {
		return p.events[event]
	}
	if len(p.keywords) > 0 {
		lower := strings.ToLower(text)
		for _, k := range p.keywords {
			if strings.Contains(lower, k.word) {
				return k.flow
			}
		}
	}
	for _, r := range p.regexes {
		if r.re.MatchString(text) {
			return r.flow
		}
	}
	if intent != "" {
		return p.intents[intent]
	}
	return nil
}

// MatchWords returns the rule or flow whose keyword or pattern the text
// contains, or nil. Intents are not consulted.
func (p *Program) MatchWords(text string) *Flow {
	return p.Match("", text, "")
}

// Intents lists the intents that start a flow or rule.
func (p *Program) Intents() []string { return keys(p.intents) }
