// Package dsl is kefu's flow language: business users script conversations
// in .kefu files, and kefu runs them turn by turn.
//
// The pipeline follows text/template/parse and expr: source (files,
// positions, errors), ast (the tree), parse (a state-function lexer and a
// recursive-descent parser), format (the canonical printer behind kefu fmt),
// compile (name resolution, the flow rules, expr conditions compiled against
// a typed environment, lowering to steps) and runtime (a pure interpreter
// that takes a state and an event and returns a new state and effects).
// dsl imports nothing else of kefu; what it needs to know about the bot
// (intents, entity types, services) comes in compile.Schema.
//
// # A taste
//
//	# 一行规则：投诉
//	when "投诉" then if $订单状态 == "已发货" then trigger 售后流程 else ask "请问订单号是多少?"
//
//	flow 退货
//	  on intent 退货申请, 退款咨询
//	  slot 订单号: /[A-Z]?\d{8,20}/ ask "请问您的订单号是多少？" retry 2 "格式不对，请输入短信里的订单号"
//	  call 订单服务.查询(订单号) -> 订单 timeout 2s
//	  on error
//	    say "订单系统暂时查不到，请稍后再试。"
//	    end
//	  if 订单.状态 == "已发货" and 订单.签收天数 <= 7
//	    say "订单 {订单号} 可以退货，我们会安排上门取件。"
//	    trigger 售后流程
//	  elif 订单.状态 == "未发货"
//	    say "订单 {订单号} 还未发货，已为您取消并原路退款。"
//	  else
//	    handoff "售后专员"
//
// # Grammar
//
// Blocks are made by indentation, as in Python or YAML: a body is the lines
// indented deeper than the line that opens it. Blank lines and comment lines
// do not count. A tab advances to the next multiple of four columns; mixing
// tabs and spaces in one file is an error. There is no block terminator:
// `end` is a statement that finishes the flow (so the sketch's trailing `end`
// reads, and works, as "then end the flow").
//
//	File      = { Decl } .
//	Decl      = Rule | Flow | Entity | Var .
//	Rule      = "when" Triggers "then" Simple NEWLINE .
//	Flow      = "flow" Name NEWLINE INDENT { On } Body DEDENT .
//	On        = "on" Triggers NEWLINE .
//	Triggers  = Trigger { "," Trigger } .
//	Trigger   = [ "intent" ] Name | "event" Name | String | Regex .
//	Entity    = "entity" Name ( Regex NEWLINE | NEWLINE INDENT { Value } DEDENT ) .
//	Value     = ( Name | String ) [ ":" ( Name | String ) { "," ( Name | String ) } ] NEWLINE .
//	Var       = "var" "$" Name "=" Expr NEWLINE .
//
//	Body      = Stmt { Stmt } .
//	Stmt      = Simple NEWLINE | If | Slot | Call .
//	Simple    = Say | Ask | Set | Goto | Handoff | End | Generate | InlineIf .
//	Say       = "say" Template .
//	Ask       = "ask" Template .
//	Set       = "set" [ "$" ] Name "=" Expr .
//	Goto      = "trigger" Name .
//	Handoff   = "handoff" [ String ] .
//	End       = "end" .
//	Generate  = "generate" Template [ "via" Name ] .
//	InlineIf  = "if" Expr "then" Simple { "elif" Expr "then" Simple } [ "else" Simple ] .
//	If        = "if" Expr NEWLINE INDENT Body DEDENT
//	            { "elif" Expr NEWLINE INDENT Body DEDENT }
//	            [ "else" NEWLINE INDENT Body DEDENT ] .
//	Slot      = "slot" Name [ ":" ( Regex | Name ) ] [ "where" Expr ]
//	            [ "ask" Template ] [ "retry" Int [ Template ] ] NEWLINE .
//	Call      = "call" Name "." Name "(" [ Arg { "," Arg } ] ")" [ "->" Name ]
//	            [ "timeout" Duration ] [ "retry" Int ] NEWLINE
//	            [ "on" "error" NEWLINE INDENT Body DEDENT ] .
//	Arg       = [ Name "=" ] Expr .
//
// Lexical elements:
//
//	Name      letters (any script, Chinese included), digits and _, not starting with a digit
//	String    "…" or '…' with Go escapes (\" \\ \n \t \u4e00); “…” and 「…」 are rejected with a hint
//	Template  a String whose {expr} holes are filled when it is said; {{ and }} are literal braces
//	Regex     /…/ with \/ for a slash, Go RE2 syntax; only where the grammar expects one
//	Duration  an integer with a unit: ms, s, m, h (500ms, 2s)
//	Int       decimal digits
//	Expr      an expr-lang expression (https://expr-lang.org), taken as source text up to
//	          the end of the line or, outside brackets and strings, up to the next
//	          keyword of its clause (then, elif, else, ask, retry, and `,` `)` in calls)
//	Comment   # to the end of the line, outside strings, regexes and brackets
//
// Keywords: when then flow on intent event entity var say ask set trigger
// handoff end if elif else slot where retry call timeout error generate via. They cannot
// be names, except after $ ($end), as a named call argument (timeout = 3) and
// as an entity value; inside an expression they are words like any other,
// except the stops of its clause listed above (at depth 0, outside strings,
// not right after a `.` or `$`).
//
// Details the grammar leaves open: the clauses of a slot (where, ask,
// retry) and of a call (->, timeout, retry) may come in any order, each once,
// and kefu fmt writes them in the order above; an expression ends at the
// end of its line (an unclosed bracket is an error); `intent` applies to
// the one trigger it precedes; full-width punctuation (：，（）＝) is reported
// with the ASCII to use. dsl/parse and dsl/format document the rest.
//
// Conditions see a typed environment: the slots of the flow and names bound
// by `call … -> 名` and `set 名`, session variables as $名, and intent
// (string), confidence (float), text (the normalized message), original
// (what the customer typed), entities (map of type to values) and channel.
package dsl
