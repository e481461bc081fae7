// Package ast declares the syntax tree of the flow language.
//
// Every node records the byte offset where it starts (source.Pos) in the
// file it came from. Comments are nodes too, so `kefu fmt` never loses one:
// a comment on its own line is a *Comment in the surrounding list; a comment
// at the end of a line is the Comment field of the node that line starts.
package ast

import (
	"time"

	"github.com/kefu-chat/kefu/dsl/source"
)

// File is one parsed .kefu file.
type File struct {
	Src   *source.File
	Decls []Decl // *Rule, *Flow, *Entity, *Var, *Comment
	// Partial marks a tree the parser recovered from errors; checks that
	// would only echo those errors (a flow with no steps) are skipped.
	Partial bool
}

// Decl is a top-level declaration.
type Decl interface{ decl() }

// Stmt is a statement in a flow body or a rule.
type Stmt interface{ stmt() }

// Comment is a `#` comment on its own line. Text excludes the `#` and
// leading blanks.
type Comment struct {
	Pos  source.Pos
	Text string
}

// Ident is a name: a flow, slot, intent, entity, service, operation or
// variable. Names may be Chinese. Dollar marks a session variable ($名).
type Ident struct {
	Pos    source.Pos
	Name   string
	Dollar bool
}

// String is a quoted literal; Value is unquoted.
type String struct {
	Pos   source.Pos
	Value string
}

// Regex is a /pattern/ literal; Pattern is what lies between the slashes
// with `\/` turned into `/`.
type Regex struct {
	Pos     source.Pos
	Pattern string
}

// Expr is an expr-lang expression kept as source. Pos is the offset of its
// first byte, so the compiler can shift expr's own line:column into the
// file's coordinates.
type Expr struct {
	Pos source.Pos
	Src string
}

// Template is a quoted string with {expr} holes: "订单 {订单号} 已发货".
// `{{` and `}}` stand for literal braces.
type Template struct {
	Pos   source.Pos
	Raw   string         // the literal as written, quotes included
	Parts []TemplatePart // text and holes in order
}

// TemplatePart is literal text or a hole; exactly one field is set.
type TemplatePart struct {
	Text string
	Expr *Expr
}

// Duration is a literal such as 2s or 500ms.
type Duration struct {
	Pos   source.Pos
	Value time.Duration
	Raw   string
}

// TriggerKind says what a trigger matches.
type TriggerKind int

const (
	TriggerIntent  TriggerKind = iota // 退货 or intent 退货: the classified intent
	TriggerKeyword                    // "退货": the normalized text contains it
	TriggerRegex                      // /退.?货/: the normalized text matches
	TriggerEvent                      // event 会话开始: an event the engine raises
)

// Trigger is one thing that starts a rule or flow.
type Trigger struct {
	Pos      source.Pos
	Kind     TriggerKind
	Name     *Ident  // intent or event name
	Keyword  *String // keyword
	Regex    *Regex  // pattern
	Explicit bool    // the intent was written with the `intent` keyword
}

// Rule is the one-line form: when TRIGGERS then STMT.
type Rule struct {
	Pos      source.Pos
	Triggers []*Trigger
	Body     Stmt // a simple statement or an inline *If
	Comment  string
}

// Flow is a named multi-step conversation.
type Flow struct {
	Pos     source.Pos
	Name    *Ident
	On      []*On // trigger lines
	Body    []Stmt
	Comment string
}

// On is one `on TRIGGERS` line of a flow.
type On struct {
	Pos      source.Pos
	Triggers []*Trigger
	Comment  string
	Doc      []*Comment // comment lines just above this line
}

// Entity declares a custom entity: a regex, or a lexicon of canonical
// values with synonyms.
type Entity struct {
	Pos     source.Pos
	Name    *Ident
	Regex   *Regex         // entity 快递单号 /SF\d{12}/
	Values  []*EntityValue // entity 颜色 + indented `红色: 红, 大红` lines
	Comment string
}

// EntityValue is one lexicon line: canonical value and its synonyms.
type EntityValue struct {
	Pos      source.Pos
	Value    *String // written bare or quoted
	Synonyms []*String
	Comment  string
	Doc      []*Comment // comment lines just above this line
}

// Var declares a session variable with its initial value: var $会员等级 = "普通".
type Var struct {
	Pos     source.Pos
	Name    *Ident
	Value   *Expr
	Comment string
}

// Say sends a message.
type Say struct {
	Pos     source.Pos
	Text    *Template
	Comment string
}

// Ask sends a question. Its answer is an ordinary next turn: to capture
// it, use a slot.
type Ask struct {
	Pos     source.Pos
	Text    *Template
	Comment string
}

// Set assigns a session variable ($名) or a flow-local name.
type Set struct {
	Pos     source.Pos
	Name    *Ident
	Value   *Expr
	Comment string
}

// Generate asks the generative fallback's route (or the named one) to
// answer Prompt, with the conversation's memory, and says the answer.
type Generate struct {
	Pos     source.Pos
	Prompt  *Template
	Route   *Ident // optional: generate "…" via 路由
	Comment string
}

// Goto is `trigger 流程名`: run another flow, then come back.
type Goto struct {
	Pos     source.Pos
	Flow    *Ident
	Comment string
}

// Handoff passes the session to a human; Queue names the team (optional).
type Handoff struct {
	Pos     source.Pos
	Queue   *String
	Comment string
}

// End finishes the current flow.
type End struct {
	Pos     source.Pos
	Comment string
}

// If is a conditional. Inline ifs (`if C then S else S` on one line) have
// single-statement bodies and no comments inside.
type If struct {
	Pos     source.Pos
	Inline  bool
	Clauses []*Clause // the if and each elif
	Else    []Stmt    // nil when absent
	ElsePos source.Pos
	ElseCmt string // trailing comment of the else line
}

// Clause is `if COND` or `elif COND` with its body.
type Clause struct {
	Pos     source.Pos
	Cond    *Expr
	Body    []Stmt
	Comment string
}

// Slot asks for a value until it is valid or the retries run out.
//
//	slot 订单号: /[A-Z]?\d{8,20}/ ask "请问订单号？" retry 2 "格式不对"
//	slot 手机: phone ask "请留下手机号"
//	slot 数量: number where 数量 > 0 ask "要几件？"
type Slot struct {
	Pos       source.Pos
	Name      *Ident
	Regex     *Regex    // validated by pattern; or
	Type      *Ident    // by entity type (built-in or declared); or neither: free text
	Where     *Expr     // extra condition over the candidate value; optional
	Ask       *Template // the question; optional (a default is used)
	Retry     int       // re-prompts after an invalid answer; -1 when not written
	RetryPos  source.Pos
	RetryText *Template // the re-prompt; optional
	Comment   string
}

// Call performs a business service operation and binds its result.
//
//	call 订单服务.查询(订单号) -> 订单 timeout 2s retry 1
//	on error
//	  say "订单系统繁忙"
type Call struct {
	Pos      source.Pos
	Service  *Ident
	Op       *Ident
	Args     []*Arg
	Result   *Ident    // optional
	Timeout  *Duration // optional
	Retry    int       // -1 when not written
	RetryPos source.Pos
	OnError  []Stmt // nil when there is no `on error` block
	ErrorPos source.Pos
	ErrorCmt string
	Comment  string
}

// Arg is a call argument, positional or named (名 = expr).
type Arg struct {
	Name  *Ident // nil for positional
	Value *Expr
}

func (*Rule) decl()    {}
func (*Flow) decl()    {}
func (*Entity) decl()  {}
func (*Var) decl()     {}
func (*Comment) decl() {}

func (*Say) stmt()      {}
func (*Ask) stmt()      {}
func (*Set) stmt()      {}
func (*Goto) stmt()     {}
func (*Generate) stmt() {}
func (*Handoff) stmt()  {}
func (*End) stmt()      {}
func (*If) stmt()       {}
func (*Slot) stmt()     {}
func (*Call) stmt()     {}
func (*Comment) stmt()  {}
