// Package convo runs conversation scripts: plain-text files in which a shop
// manager writes what a customer says and what the bot must answer, the way
// promtool test rules checks alerting rules. kefu test runs them; kefu's own
// tests use them too.
//
// A script is one conversation:
//
//	# 退货：订单号格式不对时重新询问
//	> 我要退货
//	< 请问您的订单号是多少？
//	= route flow
//	= intent 退货
//	> 12345
//	< ~格式不对
//	> A2024112200003
//	= slot 订单号 A2024112200003
//	< 订单 A2024112200003 可以退货，我们会安排上门取件。
//	< ~上门取件
//
// # Lines
//
// Each line starts with a marker; surrounding spaces and the space after the
// marker do not matter. Full-width markers (＞ ＜ ＝ ＠ ＃ ～), as a Chinese
// input method types them, work too.
//
//	# text        a comment; only at the start of a line, so replies may
//	              contain "#"; blank lines are ignored as well
//	> text        the customer says text: a new turn
//	< reply       the next bot reply of that turn, in order
//	= key value   an assertion on the turn's result
//	@ name arg    a directive; it also ends the turn, so < and = lines
//	              must come before it
//
// A turn's < and = lines may be interleaved. When a turn has < lines, their
// number must equal the number of replies: a missing or an extra reply is a
// failure. A turn with no < lines checks no replies.
//
// # Matching text
//
// A reply (<) and the value of an intent, flow, step, slot, var or entity
// assertion is written one of these ways. Surrounding spaces never count,
// on either side.
//
//	text          equals text exactly
//	~text         contains text
//	/regexp/      matches the regular expression (Go RE2 syntax, not
//	              anchored: use ^ and $ for a whole-text match)
//	"text"        equals text, in Go quoted syntax: "\n" is a line break,
//	              and text that starts with ~, /, * or - is taken literally.
//	              ~"text" is contains with the same syntax
//	*             any reply; for an assertion, any non-empty value
//	-             (assertions only) no value: unset, empty or none
//
// # Assertions
//
//	= route R           R is flow, knowledge, generative, handoff or fallback
//	= intent NAME       the classified intent (- for none)
//	= flow NAME         the active flow after the turn (- for none)
//	= step STEP         the active step after the turn (- for none)
//	= slot NAME VALUE   a slot of the active flow (- for unset)
//	= var NAME VALUE    a session variable (- for unset)
//	= entity TYPE VALUE some entity of TYPE found in the message has VALUE
//	                    (- for no entity of TYPE)
//	= handoff yes|no    whether the session is with a human agent
//
// # Directives
//
//	@ session new       start a fresh session (a new id)
//	@ session NAME      switch to the session called NAME, fresh the first
//	                    time; scripts can interleave two customers this way
//	@ channel NAME      the channel of later turns (default: the engine's)
//	@ user NAME         the user id of later turns
//	@ now TIME          the clock of later turns, RFC 3339:
//	                    2026-11-22T10:00:00+08:00
//	@ wait DURATION     move that clock forward: 30s, 10m, 2h, 3d
//	                    (from the real time when no @ now came first)
//	@ agent TEXT        a human agent answers in the handoff session
//	@ release           the agent gives the session back to the bot
//
// @ agent and @ release need a Turner that also implements [Agent];
// otherwise they fail the script.
//
// # Running
//
// [Parse] reads a script and reports every mistake with its line
// (refund.txt:7: unknown assertion "slto" …) as an [ErrorList]. [Run] plays
// it against a [Turner], in a fresh session whose id starts with "test-",
// and returns a [Result] that [Result.Write] prints:
//
//	FAIL refund.txt:9: reply 1
//	    want: 请问您的订单号是多少？
//	    got:  请提供订单号
//	FAIL refund.txt (3 turns, 1 failure)
//	ok   cancel.txt (5 turns)
//
// A turn that returns an error is a failure at its > line and stops the
// script. Scripts are independent; run them concurrently if the Turner
// allows.
package convo
