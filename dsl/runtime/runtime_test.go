package runtime_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/compile"
	"github.com/kefu-chat/kefu/dsl/parse"
	"github.com/kefu-chat/kefu/dsl/runtime"
)

var schema = compile.Schema{
	Intents:  []string{"退货", "物流查询", "感谢", "问候", "投诉", "循环"},
	Entities: []string{"order_id", "number", "email"},
	Services: map[string]map[string][]string{"订单服务": {"查询": {"订单号"}}},
}

func mustCompile(t testing.TB, src string) *compile.Program {
	t.Helper()
	f, errs := parse.File("t.kefu", []byte(src))
	if len(errs) > 0 {
		t.Fatalf("parse: %s", errs.Render())
	}
	p, errs := compile.Compile([]*ast.File{f}, schema)
	if len(errs) > 0 {
		t.Fatalf("compile: %s", errs.Render())
	}
	return p
}

// convo drives a program like the engine does: it performs calls with the
// given fake and round-trips the state through JSON between turns, as the
// session store does.
type convo struct {
	t     *testing.T
	p     *compile.Program
	st    runtime.State
	calls func(*runtime.CallRequest) runtime.CallResult
	opt   runtime.Options
	last  runtime.Output
}

func (c *convo) send(msg runtime.Message) []string {
	c.t.Helper()
	if msg.Original == "" {
		msg.Original = msg.Text
	}
	out, err := runtime.Run(c.p, c.st, runtime.Input{Message: msg}, c.opt)
	var says []string
	for n := 0; err == nil && out.Call != nil; n++ {
		if n > 10 {
			c.t.Fatal("too many calls")
		}
		says = append(says, texts(out.Effects)...)
		res := c.calls(out.Call)
		out, err = runtime.Run(c.p, out.State, runtime.Input{Message: msg, Call: &res}, c.opt)
	}
	if err != nil {
		c.t.Fatalf("run %q: %v", msg.Text, err)
	}
	says = append(says, texts(out.Effects)...)
	data, err := json.Marshal(out.State)
	if err != nil {
		c.t.Fatal(err)
	}
	c.st = runtime.State{}
	if err := json.Unmarshal(data, &c.st); err != nil {
		c.t.Fatal(err)
	}
	c.last = out
	return says
}

func texts(effs []runtime.Effect) []string {
	var out []string
	for _, e := range effs {
		switch e.Kind {
		case runtime.Say, runtime.Ask:
			if e.Resumed {
				out = append(out, "↩"+e.Text)
			} else {
				out = append(out, e.Text)
			}
		case runtime.Handoff:
			out = append(out, "[handoff "+e.Queue+"]")
		}
	}
	return out
}

func text(s string) runtime.Message { return runtime.Message{Text: s} }

func intent(name, s string) runtime.Message {
	return runtime.Message{Text: s, Intent: name, Confidence: 0.9}
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replies\n got: %q\nwant: %q", got, want)
	}
}

const seed = `
var $订单状态 = ""
when "投诉" then if $订单状态 == "已发货" then trigger 售后流程 else ask "请问订单号是多少?"

flow 售后流程
  slot 问题 ask "请描述一下问题"
  handoff "售后专员"

flow 查单
  on /^[A-Z]\d{8,}$/
  slot 订单号: /[A-Z]\d{8,}/
  call 订单服务.查询(订单号) -> 订单
  set $订单状态 = 订单.状态
  say "订单 {订单号}：{订单.状态}"
`

func shop(r *runtime.CallRequest) runtime.CallResult {
	switch r.Positional[0] {
	case "A20241122001":
		return runtime.CallResult{Value: map[string]any{"状态": "已发货", "签收天数": 3.0}}
	case "A20241122002":
		return runtime.CallResult{Value: map[string]any{"状态": "未发货", "签收天数": 0.0}}
	}
	return runtime.CallResult{Err: errors.New("订单不存在")}
}

func TestSeedRule(t *testing.T) {
	c := &convo{t: t, p: mustCompile(t, seed), calls: shop}
	expect(t, c.send(text("我要投诉")), "请问订单号是多少?")
	if !c.last.Handled || len(c.st.Stack) != 0 {
		t.Fatalf("rule should run and finish: %+v", c.last)
	}
	expect(t, c.send(text("A20241122001")), "订单 A20241122001：已发货")
	if got := c.st.Vars["订单状态"]; got != "已发货" {
		t.Fatalf("$订单状态 = %v", got)
	}
	expect(t, c.send(text("我要投诉你们")), "请描述一下问题")
	if f, _ := c.st.Active(); f != "售后流程" {
		t.Fatalf("active flow %q", f)
	}
	expect(t, c.send(text("耳机没声音")), "[handoff 售后专员]")
	if len(c.st.Stack) != 0 {
		t.Fatal("handoff must clear the stack")
	}
}

const refund = `
flow 退货
  on intent 退货
  slot 订单号: /[A-Z]\d{8,}/ ask "请问订单号？" retry 1 "格式不对，请重新输入"
  call 订单服务.查询(订单号) -> 订单 timeout 2s
  on error
    say "查不到订单 {订单号}"
    end
  if 订单.状态 == "已发货" and 订单.签收天数 <= 7
    say "订单 {订单号} 可以退货"
    trigger 取件
    say "还有别的问题吗？"
  elif 订单.状态 == "未发货"
    say "还未发货，已取消"
  else
    handoff "售后专员"

flow 取件
  slot 时间 ask "什么时候方便上门？"
  say "好的，{时间} 上门取件"

when 感谢 then say "不客气"

flow 查物流
  on intent 物流查询
  slot 单号: order_id ask "物流单号？"
  say "单号 {单号} 在路上"
`

func TestSlotCallBranchSubflow(t *testing.T) {
	c := &convo{t: t, p: mustCompile(t, refund), calls: shop}
	expect(t, c.send(intent("退货", "我要退货")), "请问订单号？")
	expect(t, c.send(text("A20241122001")), "订单 A20241122001 可以退货", "什么时候方便上门？")
	if f, s := c.st.Active(); f != "取件" || s != "slot 时间" {
		t.Fatalf("active %q %q", f, s)
	}
	expect(t, c.send(text("明天下午")), "好的，明天下午 上门取件", "还有别的问题吗？")
	if len(c.st.Stack) != 0 {
		t.Fatalf("stack not empty: %+v", c.st.Stack)
	}
}

func TestSlotFilledFromTriggeringMessage(t *testing.T) {
	c := &convo{t: t, p: mustCompile(t, refund), calls: shop}
	expect(t, c.send(intent("退货", "A20241122002 要退货")), "还未发货，已取消")
}

func TestRetryThenGiveUp(t *testing.T) {
	c := &convo{t: t, p: mustCompile(t, refund), calls: shop}
	c.send(intent("退货", "我要退货"))
	expect(t, c.send(text("12345")), "格式不对，请重新输入")
	expect(t, c.send(text("还是12345")), runtime.DefaultGiveUp)
	if len(c.st.Stack) != 0 {
		t.Fatal("gave up but the flow is still running")
	}
}

func TestCallErrorBranch(t *testing.T) {
	c := &convo{t: t, p: mustCompile(t, refund), calls: shop}
	expect(t, c.send(intent("退货", "退货 B99999999")), "查不到订单 B99999999")
	c.send(intent("退货", "我要退货"))
	expect(t, c.send(text("Z99999999")), "查不到订单 Z99999999")
}

func TestCallErrorWithoutBranch(t *testing.T) {
	p := mustCompile(t, seed)
	c := &convo{t: t, p: p, calls: shop}
	expect(t, c.send(text("Z99999999")), runtime.DefaultServiceError)
	if len(c.st.Stack) != 0 {
		t.Fatal("a failed call without on error ends the flow")
	}
}

func TestInterruptionAndResume(t *testing.T) {
	c := &convo{t: t, p: mustCompile(t, refund), calls: shop}
	c.send(intent("退货", "我要退货"))
	// A rule answers, then the pending question comes back.
	expect(t, c.send(intent("感谢", "谢谢")), "不客气", "↩请问订单号？")
	// Another flow with its own slot runs on top; the first waits.
	expect(t, c.send(intent("物流查询", "我的快递到哪了")), "物流单号？")
	expect(t, c.send(runtime.Message{Text: "A20240000001", Entities: []runtime.Entity{{Type: "order_id", Value: "A20240000001"}}}),
		"单号 A20240000001 在路上", "↩请问订单号？")
	expect(t, c.send(text("A20241122002")), "还未发货，已取消")
	if len(c.st.Stack) != 0 {
		t.Fatal("stack not empty")
	}
}

func TestSameIntentDoesNotInterruptItself(t *testing.T) {
	c := &convo{t: t, p: mustCompile(t, refund), calls: shop}
	c.send(intent("退货", "我要退货"))
	expect(t, c.send(intent("退货", "我说了要退货")), "格式不对，请重新输入")
}

func TestWhereAndNumberSlot(t *testing.T) {
	p := mustCompile(t, `
flow 买
  on intent 问候
  slot 数量: number where 数量 > 0 and 数量 <= 99 ask "要几件？" retry 2 "请输入 1 到 99"
  say "好的，{数量} 件，共 {数量 * 9.5} 元"
`)
	c := &convo{t: t, p: p}
	c.send(intent("问候", "买东西"))
	num := func(s, v string) runtime.Message {
		return runtime.Message{Text: s, Entities: []runtime.Entity{{Type: "number", Value: v}}}
	}
	expect(t, c.send(num("200件", "200")), "请输入 1 到 99")
	expect(t, c.send(num("3件", "3")), "好的，3 件，共 28.5 元")
}

func TestEventTrigger(t *testing.T) {
	p := mustCompile(t, `when event 会话开始 then say "欢迎光临"`)
	c := &convo{t: t, p: p}
	expect(t, c.send(runtime.Message{Event: "会话开始"}), "欢迎光临")
	expect(t, c.send(text("会话开始")))
	if c.last.Handled {
		t.Fatal("text must not raise events")
	}
}

func TestKeywordsIgnoreCaseAndBeatIntents(t *testing.T) {
	p := mustCompile(t, `
when "VIP" then say "会员专线"
when 问候 then say "您好"
`)
	c := &convo{t: t, p: p}
	expect(t, c.send(intent("问候", "你好，我是vip")), "会员专线")
	expect(t, c.send(intent("问候", "你好")), "您好")
}

func TestRunIsPure(t *testing.T) {
	p := mustCompile(t, refund)
	c := &convo{t: t, p: p, calls: shop}
	c.send(intent("退货", "我要退货"))
	before, _ := json.Marshal(c.st)
	for i := 0; i < 3; i++ {
		out, err := runtime.Run(p, c.st, runtime.Input{Message: text("A20241122002")}, runtime.Options{})
		if err != nil || out.Call == nil {
			t.Fatalf("run %d: %v %+v", i, err, out)
		}
	}
	after, _ := json.Marshal(c.st)
	if string(before) != string(after) {
		t.Fatalf("Run changed its input state\nbefore %s\nafter  %s", before, after)
	}
}

func TestBudgets(t *testing.T) {
	p := mustCompile(t, `
flow 甲
  on intent 循环
  trigger 乙
flow 乙
  trigger 甲
`)
	_, err := runtime.Run(p, runtime.State{}, runtime.Input{Message: intent("循环", "x")}, runtime.Options{})
	if !errors.Is(err, runtime.ErrDepth) {
		t.Fatalf("want ErrDepth, got %v", err)
	}
	var re *runtime.Error
	if !errors.As(err, &re) || re.Pos.Line == 0 || !strings.Contains(err.Error(), "t.kefu:") {
		t.Fatalf("error lacks a position: %v", err)
	}
	p = mustCompile(t, `
flow 长
  on intent 循环
  say "1"
  say "2"
  say "3"
`)
	_, err = runtime.Run(p, runtime.State{}, runtime.Input{Message: intent("循环", "x")}, runtime.Options{MaxSteps: 2})
	if !errors.Is(err, runtime.ErrSteps) {
		t.Fatalf("want ErrSteps, got %v", err)
	}
}

func TestReloadedFlowRestartsPolitely(t *testing.T) {
	old := mustCompile(t, refund)
	c := &convo{t: t, p: old, calls: shop}
	c.send(intent("退货", "我要退货"))
	// The new version asks for a phone number first: the session's step is gone.
	c.p = mustCompile(t, strings.Replace(refund, `  slot 订单号:`, `  say "先核实身份"
  slot 订单号:`, 1))
	expect(t, c.send(text("你好")), runtime.DefaultRestarted, "先核实身份", "请问订单号？")
	// Unchanged programs resume where they were.
	c2 := &convo{t: t, p: old, calls: shop}
	c2.send(intent("退货", "我要退货"))
	c2.p = mustCompile(t, refund)
	expect(t, c2.send(text("A20241122002")), "还未发货，已取消")
}

func TestRuntimeErrorHasPosition(t *testing.T) {
	p := mustCompile(t, `
flow 除
  on intent 问候
  set x = 1 / 0 == 1 ? "a" : "b"
  say "{x}"
  say "{int('abc')}"
`)
	_, err := runtime.Run(p, runtime.State{}, runtime.Input{Message: intent("问候", "x")}, runtime.Options{})
	var re *runtime.Error
	if !errors.As(err, &re) || re.Pos.Line != 6 {
		t.Fatalf("want an error at line 6, got %v", err)
	}
}

func BenchmarkStep(b *testing.B) {
	p := mustCompile(b, refund)
	msg := runtime.Message{Text: "我要退货", Intent: "退货"}
	b.ReportAllocs()
	for b.Loop() {
		out, err := runtime.Run(p, runtime.State{}, runtime.Input{Message: msg}, runtime.Options{})
		if err != nil || len(out.Effects) != 1 {
			b.Fatal(err)
		}
	}
}

func TestGenerate(t *testing.T) {
	f, errs := parse.File("t.kefu", []byte(`
flow 安抚
  on intent 投诉
  slot 问题 ask "发生了什么？"
  generate "顾客反映：{问题}。请先道歉再安抚。" via 售后
  say "已为您记录。"
`))
	if len(errs) > 0 {
		t.Fatal(errs.Render())
	}
	s := schema
	s.Routes = []string{"售后"}
	p, cerrs := compile.Compile([]*ast.File{f}, s)
	if len(cerrs) > 0 {
		t.Fatal(cerrs.Render())
	}
	out, _ := runtime.Run(p, runtime.State{}, runtime.Input{Message: intent("投诉", "我要投诉")}, runtime.Options{})
	answer := runtime.Message{Text: "快递员态度很差", Original: "快递员态度很差"}
	out, err := runtime.Run(p, out.State, runtime.Input{Message: answer}, runtime.Options{})
	if err != nil || out.Generate == nil || out.Generate.Prompt != "顾客反映：快递员态度很差。请先道歉再安抚。" || out.Generate.Route != "售后" {
		t.Fatalf("generate request: %+v %v (effects %+v, state %+v)", out.Generate, err, out.Effects, out.State)
	}
	done, err := runtime.Run(p, out.State, runtime.Input{Message: text("快递员态度很差"), Call: &runtime.CallResult{Value: "非常抱歉给您带来不好的体验。"}}, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, texts(done.Effects), "非常抱歉给您带来不好的体验。", "已为您记录。")
	failed, _ := runtime.Run(p, out.State, runtime.Input{Message: text("x"), Call: &runtime.CallResult{Err: errors.New("down")}}, runtime.Options{})
	expect(t, texts(failed.Effects), runtime.DefaultGenerateKO, "已为您记录。")
}
