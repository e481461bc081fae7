package convo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	src := "\ufeff# comment\n\n  > 我要退货 \r\n＜ 请问您的订单号是多少？\n= slot 订单号 A1\n< ～上门取件\n< /^订单 \\w+$/\n< *\n" +
		"= var 退货单号 *\n= entity 手机号 -\n= intent \"-\"\n= flow ~\"退 货\"\n= handoff no\n@ now 2026-11-22T10:00:00+08:00\n@ wait 3d\n@ session new\n> 好的\n"
	s, err := Parse("a.txt", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "a.txt" || len(s.Steps) != 5 || s.Turns() != 2 {
		t.Fatalf("steps = %+v", s.Steps)
	}
	turn := s.Steps[0]
	if turn.Line != 3 || turn.Text != "我要退货" || len(turn.Replies) != 4 || len(turn.Asserts) != 6 {
		t.Fatalf("turn = %+v", turn)
	}
	type m struct {
		line int
		op   MatchOp
		text string
	}
	var got []m
	for _, r := range turn.Replies {
		got = append(got, m{r.Line, r.Op, r.Text})
	}
	for _, a := range turn.Asserts {
		got = append(got, m{a.Line, a.Want.Op, a.Key + "|" + a.Name + "|" + a.Want.Text})
	}
	want := []m{
		{4, Exact, "请问您的订单号是多少？"},
		{6, Contains, "上门取件"},
		{7, Regexp, `^订单 \w+$`},
		{8, Any, "*"},
		{5, Exact, "slot|订单号|A1"},
		{9, Any, "var|退货单号|*"},
		{10, Unset, "entity|手机号|-"},
		{11, Exact, "intent||-"},
		{12, Contains, "flow||退 货"},
		{13, Exact, "handoff||no"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%v\nwant\n%v", got, want)
	}
	if st := s.Steps[1]; st.Directive != "now" || !st.Time.Equal(time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("@ now = %+v", st)
	}
	if st := s.Steps[2]; st.Directive != "wait" || st.Wait != 72*time.Hour {
		t.Errorf("@ wait = %+v", st)
	}
	if st := s.Steps[3]; st.Directive != "session" || st.Text != "new" || st.Line != 16 {
		t.Errorf("@ session = %+v", st)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unknown assertion", "> a\n\n= slto x y\n", `f.txt:3: unknown assertion "slto" (want: route, intent, flow, step, slot, var, entity, handoff)`},
		{"reply first", "< hi\n> a\n", `f.txt:1: "<" before the first "> message" line`},
		{"assert first", "= route flow\n> a\n", `f.txt:1: "=" before the first "> message" line`},
		{"after directive", "> a\n@ release\n< hi\n", `f.txt:3: "<" must follow a "> message" line; the turn ended at the @ on line 2`},
		{"no turns", "# only a comment\n", `f.txt:1: no "> message" lines: a script needs at least one`},
		{"empty message", "> a\n>\n", `f.txt:2: empty message after ">"`},
		{"empty reply", "> a\n<   \n", `f.txt:2: empty reply after "<" (write "< *" for any reply)`},
		{"bare text", "> a\n请问您的订单号是多少？\n", `f.txt:2: unknown line "请问您的订单号是多少？" (want "> message", "< reply", "= assertion", "@ directive" or "# comment")`},
		{"bad route", "> a\n= route flw\n", `f.txt:2: route "flw" (want: flow, knowledge, generative, handoff, fallback)`},
		{"bad handoff", "> a\n= handoff 是\n", `f.txt:2: handoff "是" (want: yes, no)`},
		{"route no value", "> a\n= route\n", `f.txt:2: missing value: write "= route flow"`},
		{"slot no name", "> a\n= slot\n", `f.txt:2: missing name and value: write "= slot NAME VALUE" (- for unset)`},
		{"slot no value", "> a\n= slot 订单号\n", `f.txt:2: missing value: write "= slot NAME VALUE" (- for none)`},
		{"empty assertion", "> a\n=\n", `f.txt:2: empty assertion after "=" (want: route, intent, flow, step, slot, var, entity, handoff)`},
		{"bad regexp", "> a\n< /(/\n", "f.txt:2: bad regexp /(/: error parsing regexp: missing closing ): `(`"},
		{"empty regexp", "> a\n< //\n", `f.txt:2: empty regexp "//"`},
		{"empty contains", "> a\n< ~\n", `f.txt:2: empty text after "~" (write "*" to match anything)`},
		{"bad quote", "> a\n< \"a\\q\"\n", `f.txt:2: bad quoted text "a\q" (inside quotes write \" for a quote and \\ for a backslash)`},
		{"unknown directive", "> a\n@ sesion new\n", `f.txt:2: unknown directive "sesion" (want: session, channel, user, now, wait, agent, release)`},
		{"session no name", "> a\n@ session\n", `f.txt:2: @ session needs a name, or "new" for a fresh session`},
		{"agent no text", "> a\n@ agent\n", `f.txt:2: @ agent needs the agent's message`},
		{"release arg", "> a\n@ release now\n", `f.txt:2: @ release takes no argument`},
		{"bad now", "> a\n@ now 2026-11-22 10:00\n", `f.txt:2: @ now: "2026-11-22 10:00" is not a time like 2026-11-22T10:00:00+08:00`},
		{"bad wait", "> a\n@ wait 3天\n", `f.txt:2: @ wait: "3天" is not a duration like 30s, 10m, 2h or 3d`},
		{"negative wait", "> a\n@ wait -1h\n", `f.txt:2: @ wait: "-1h" is not a duration like 30s, 10m, 2h or 3d`},
		{"several", "> a\n= slto\n< ~\n", `f.txt:2: unknown assertion "slto" (want: route, intent, flow, step, slot, var, entity, handoff) (and 1 more error)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("f.txt", []byte(tc.src))
			if err == nil {
				t.Fatalf("parsed without error: %+v", s)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 || s != nil {
				t.Errorf("want an ErrorList and a nil script, got %T, %v", err, s)
			}
		})
	}
}

func TestParseErrorCap(t *testing.T) {
	_, err := Parse("f.txt", []byte(strings.Repeat("oops\n", 100)))
	list := err.(ErrorList)
	if len(list) != maxErrors+1 || list[maxErrors].Msg != "too many errors" {
		t.Errorf("%d errors, last %v", len(list), list[len(list)-1])
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		src, got  string
		assertion bool
		want      bool
	}{
		{"好的", " 好的\n", false, true},
		{"好的", "好的！", false, false},
		{"~上门取件", "我们会安排上门取件。", false, true},
		{"~上门取件", "我们会安排快递。", false, false},
		{`/^R\d{12}$/`, "R202611220001", true, true},
		{`/^R\d{12}$/`, "退货单号 R202611220001", true, false},
		{`/退货单号 R\d+/`, "您的退货单号 R202611220001，请保留", false, true},
		{"*", "anything", false, true},
		{"*", "", true, false},
		{"-", "", true, true},
		{"-", "x", true, false},
		{"-", "-", false, true}, // a reply "-" is literal
		{`"-"`, "-", true, true},
		{`"第一行\n第二行"`, "第一行\n第二行", false, true},
		{`"~不是包含"`, "~不是包含", false, true},
		{`~"a\tb"`, "xa\tbx", false, true},
	} {
		m, err := parseMatch(1, tc.src, tc.assertion)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if got := m.Match(tc.got); got != tc.want {
			t.Errorf("%s matches %q = %v, want %v", tc.src, tc.got, got, tc.want)
		}
		if m.String() != tc.src {
			t.Errorf("String() = %q, want %q", m.String(), tc.src)
		}
	}
}

// fakeBot is a Turner and Agent built from function fields.
type fakeBot struct {
	TurnFunc    func(ctx context.Context, sessionID, text string, opts TurnOptions) (TurnResult, error)
	AgentFunc   func(ctx context.Context, sessionID, text string) error
	ReleaseFunc func(ctx context.Context, sessionID string) error
}

func (b *fakeBot) Turn(ctx context.Context, sessionID, text string, opts TurnOptions) (TurnResult, error) {
	return b.TurnFunc(ctx, sessionID, text, opts)
}

func (b *fakeBot) AgentReply(ctx context.Context, sessionID, text string) error {
	return b.AgentFunc(ctx, sessionID, text)
}

func (b *fakeBot) Release(ctx context.Context, sessionID string) error {
	return b.ReleaseFunc(ctx, sessionID)
}

var _ Agent = (*fakeBot)(nil)

var orderNo = regexp.MustCompile(`^A\d{13}$`)

// refundBot is a tiny scripted bot: a refund flow asking for an order
// number, and handoff.
type refundBot struct {
	inFlow  map[string]bool
	handoff map[string]bool
	calls   []string // "session|channel|user|now|text" per turn, and agent events
	fakeBot
}

func newRefundBot() *refundBot {
	b := &refundBot{inFlow: map[string]bool{}, handoff: map[string]bool{}}
	b.TurnFunc = func(ctx context.Context, sid, text string, o TurnOptions) (TurnResult, error) {
		now := ""
		if !o.Now.IsZero() {
			now = o.Now.UTC().Format(time.RFC3339)
		}
		b.calls = append(b.calls, strings.Join([]string{sid, o.Channel, o.UserID, now, text}, "|"))
		switch {
		case b.handoff[sid]:
			return TurnResult{Route: "handoff", Handoff: true}, nil
		case text == "转人工":
			b.handoff[sid] = true
			return TurnResult{Route: "handoff", Intent: "转人工", Confidence: 0.97, Handoff: true, Replies: []string{"正在为您转接人工客服"}}, nil
		case text == "我要退货":
			b.inFlow[sid] = true
			return TurnResult{Route: "flow", Intent: "退货", Confidence: 0.93, Flow: "退货", Step: "订单号",
				Replies: []string{"请问您的订单号是多少？"}}, nil
		case b.inFlow[sid] && orderNo.MatchString(text):
			b.inFlow[sid] = false
			return TurnResult{Route: "flow", Slots: map[string]string{"订单号": text},
				Entities: []Entity{{"订单号", text}},
				Replies:  []string{"订单 " + text + " 可以退货，我们会安排上门取件。", "取件时间：明天 9:00-18:00"}}, nil
		case b.inFlow[sid]:
			return TurnResult{Route: "flow", Flow: "退货", Step: "订单号", Entities: []Entity{{"数字", text}},
				Replies: []string{"格式不对，请输入短信里的订单号"}}, nil
		}
		return TurnResult{Route: "fallback", Replies: []string{"抱歉，我没有听懂"}}, nil
	}
	b.AgentFunc = func(ctx context.Context, sid, text string) error {
		b.calls = append(b.calls, "agent|"+sid+"|"+text)
		return nil
	}
	b.ReleaseFunc = func(ctx context.Context, sid string) error {
		b.calls = append(b.calls, "release|"+sid)
		b.handoff[sid] = false
		return nil
	}
	return b
}

func mustParse(t *testing.T, name, src string) *Script {
	t.Helper()
	s, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func report(r Result) string {
	var b bytes.Buffer
	r.Write(&b)
	return b.String()
}

func TestRunPasses(t *testing.T) {
	data, err := os.ReadFile("testdata/refund.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("testdata/refund.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	bot := newRefundBot()
	r := Run(context.Background(), s, bot)
	if got, want := report(r), "ok   testdata/refund.txt (5 turns)\n"; got != want || !r.Passed {
		t.Fatalf("report:\n%s\nwant\n%s", got, want)
	}
	// Sessions: one for the first customer, a named one for the second.
	sid := func(call string) string { return strings.SplitN(call, "|", 2)[0] }
	first, second := sid(bot.calls[0]), sid(bot.calls[3])
	if !strings.HasPrefix(first, "test-") || first == second || sid(bot.calls[2]) != first {
		t.Errorf("sessions: %q", bot.calls)
	}
	if bot.calls[3] != second+"|wechat|||转人工" {
		t.Errorf("channel not passed: %q", bot.calls[3])
	}
	if bot.calls[4] != "agent|"+second+"|您好，我是客服小美" || bot.calls[5] != "release|"+second {
		t.Errorf("agent calls: %q", bot.calls[4:])
	}
	// Another run gets another session.
	bot2 := newRefundBot()
	Run(context.Background(), s, bot2)
	if sid(bot2.calls[0]) == first {
		t.Error("two runs shared a session id")
	}
}

func TestRunFailures(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"wrong reply", "> 我要退货\n< 请提供订单号\n",
			"FAIL r.txt:2: reply 1\n    want: 请提供订单号\n    got:  请问您的订单号是多少？\nFAIL r.txt (1 turn, 1 failure)\n"},
		{"contains and regexp", "> 我要退货\n> A2024112200003\n< ~上门退货\n< /^取件时间：后天/\n",
			"FAIL r.txt:3: reply 1\n    want: ~上门退货\n    got:  订单 A2024112200003 可以退货，我们会安排上门取件。\n" +
				"FAIL r.txt:4: reply 2\n    want: /^取件时间：后天/\n    got:  取件时间：明天 9:00-18:00\nFAIL r.txt (2 turns, 2 failures)\n"},
		{"missing reply", "> 我要退货\n< 请问您的订单号是多少？\n< 您也可以在订单页申请\n",
			"FAIL r.txt:1: got 1 reply, want 2\n    want 1: 请问您的订单号是多少？\n    want 2: 您也可以在订单页申请\n    got 1:  请问您的订单号是多少？\nFAIL r.txt (1 turn, 1 failure)\n"},
		{"extra reply", "> 我要退货\n> A2024112200003\n< ~可以退货\n",
			"FAIL r.txt:2: got 2 replies, want 1\n    want 1: ~可以退货\n    got 1:  订单 A2024112200003 可以退货，我们会安排上门取件。\n    got 2:  取件时间：明天 9:00-18:00\nFAIL r.txt (2 turns, 1 failure)\n"},
		{"no replies wanted, none checked", "> 我要退货\n= intent 退货\n", "ok   r.txt (1 turn)\n"},
		{"assertions", "> 我要退货\n= route knowledge\n= intent 查物流\n= flow -\n= step *\n= slot 订单号 A1\n= var 退货单号 *\n= handoff yes\n= entity 订单号 A1\n",
			"FAIL r.txt:2: route\n    want: knowledge\n    got:  flow\n" +
				"FAIL r.txt:3: intent\n    want: 查物流\n    got:  退货 (confidence 0.93)\n" +
				"FAIL r.txt:4: flow\n    want: -\n    got:  退货\n" +
				"FAIL r.txt:6: slot 订单号\n    want: A1\n    got:  (none)\n" +
				"FAIL r.txt:7: var 退货单号\n    want: *\n    got:  (none)\n" +
				"FAIL r.txt:8: handoff\n    want: yes\n    got:  no\n" +
				"FAIL r.txt:9: entity 订单号\n    want: A1\n    got:  (none)\n" +
				"FAIL r.txt (1 turn, 7 failures)\n"},
		{"entity of another type", "> 我要退货\n> 12345\n= entity 订单号 *\n= entity 数字 -\n",
			"FAIL r.txt:3: entity 订单号\n    want: *\n    got:  (none; found 数字=12345)\n" +
				"FAIL r.txt:4: entity 数字\n    want: -\n    got:  12345\nFAIL r.txt (2 turns, 2 failures)\n"},
		{"handoff reply", "> 转人工\n< 好\n", "FAIL r.txt:2: reply 1\n    want: 好\n    got:  正在为您转接人工客服\nFAIL r.txt (1 turn, 1 failure)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(context.Background(), mustParse(t, "r.txt", tc.src), newRefundBot())
			if got := report(r); got != tc.want {
				t.Errorf("report:\n%s\nwant:\n%s", got, tc.want)
			}
			if r.Passed != strings.HasPrefix(tc.want, "ok") {
				t.Errorf("Passed = %v", r.Passed)
			}
		})
	}
}

func TestRunShowsOddReplies(t *testing.T) {
	bot := TurnerFunc(func(ctx context.Context, sid, text string, o TurnOptions) (TurnResult, error) {
		return TurnResult{Replies: []string{"第一行\n第二行", ""}}, nil
	})
	r := Run(context.Background(), mustParse(t, "r.txt", "> hi\n< 第一行\n< *\n"), bot)
	want := "FAIL r.txt:2: reply 1\n    want: 第一行\n    got:  \"第一行\\n第二行\"\n" +
		"FAIL r.txt:3: reply 2\n    want: *\n    got:  \"\"\nFAIL r.txt (1 turn, 2 failures)\n"
	if got := report(r); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
	r = Run(context.Background(), mustParse(t, "r.txt", "> hi\n< \"第一行\\n第二行\"\n< \"\"\n"), bot)
	if !r.Passed {
		t.Errorf("quoted replies:\n%s", report(r))
	}
}

func TestRunStops(t *testing.T) {
	var turns int
	bot := TurnerFunc(func(ctx context.Context, sid, text string, o TurnOptions) (TurnResult, error) {
		turns++
		if text == "boom" {
			return TurnResult{}, errors.New("engine: model not loaded")
		}
		return TurnResult{Replies: []string{"ok"}}, nil
	})
	r := Run(context.Background(), mustParse(t, "r.txt", "> hi\n< ok\n> boom\n< ok\n> never\n"), bot)
	want := "FAIL r.txt:3: turn failed: engine: model not loaded\nFAIL r.txt (2 turns, 1 failure)\n"
	if got := report(r); got != want || turns != 2 {
		t.Errorf("report:\n%s\nwant:\n%s(turns %d)", got, want, turns)
	}

	// @ agent against a Turner without Agent.
	r = Run(context.Background(), mustParse(t, "r.txt", "> hi\n@ agent 您好\n> never\n"), bot)
	want = "FAIL r.txt:2: @ agent: the bot under test does not support human agents\nFAIL r.txt (1 turn, 1 failure)\n"
	if got := report(r); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}

	// A failing Release.
	fb := newRefundBot()
	fb.ReleaseFunc = func(context.Context, string) error { return errors.New("not handed off") }
	r = Run(context.Background(), mustParse(t, "r.txt", "> hi\n@ release\n> never\n"), fb)
	if got, want := report(r), "FAIL r.txt:2: @ release failed: not handed off\nFAIL r.txt (1 turn, 1 failure)\n"; got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}

	// A canceled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = Run(ctx, mustParse(t, "r.txt", "> hi\n"), bot)
	if got, want := report(r), "FAIL r.txt:1: stopped: context canceled\nFAIL r.txt (0 turns, 1 failure)\n"; got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}

	r = Run(context.Background(), nil, nil)
	if r.Passed || report(r) != "FAIL : nothing to run: nil script or Turner\nFAIL  (0 turns, 1 failure)\n" {
		t.Errorf("nil run: %q", report(r))
	}
}

func TestRunOptions(t *testing.T) {
	var seen []TurnOptions
	var sids []string
	bot := TurnerFunc(func(ctx context.Context, sid, text string, o TurnOptions) (TurnResult, error) {
		seen = append(seen, o)
		sids = append(sids, sid)
		return TurnResult{}, nil
	})
	src := "> a\n@ channel web\n@ user u1\n@ now 2026-11-22T10:00:00+08:00\n> b\n@ wait 30m\n@ session new\n> c\n" +
		"@ session 甲\n> d\n@ session 乙\n> e\n@ session 甲\n> f\n"
	r := Run(context.Background(), mustParse(t, "o.txt", src), bot)
	if !r.Passed || r.Turns != 6 {
		t.Fatalf("%s", report(r))
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("", 8*3600))
	if seen[0] != (TurnOptions{}) || seen[1].Channel != "web" || seen[1].UserID != "u1" || !seen[1].Now.Equal(at) ||
		!seen[2].Now.Equal(at.Add(30*time.Minute)) {
		t.Errorf("options: %+v", seen)
	}
	if sids[0] != sids[1] || sids[1] == sids[2] || sids[3] == sids[2] || sids[4] == sids[3] || sids[5] != sids[3] {
		t.Errorf("sessions: %q", sids)
	}
	for _, id := range sids {
		if !regexp.MustCompile(`^test-[0-9a-f]{16}$`).MatchString(id) {
			t.Errorf("session id %q", id)
		}
	}

	// @ wait without @ now starts from the real clock.
	seen = nil
	before := time.Now()
	Run(context.Background(), mustParse(t, "o.txt", "@ wait 1h\n> a\n"), bot)
	if d := seen[0].Now.Sub(before); d < time.Hour || d > time.Hour+time.Minute {
		t.Errorf("@ wait from real time: %v", seen[0].Now)
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("testdata/refund.txt")
	f.Add(string(seed))
	f.Add("> a\n< /(/\n= slot\n@ now x\n")
	f.Add("＞ 你好\n＜ ～好\n＝ route flow\n")
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4000 {
			return
		}
		lines := strings.Count(src, "\n") + 1
		s, err := Parse("f.txt", []byte(src))
		if err != nil {
			for _, e := range err.(ErrorList) {
				if e.Line < 1 || e.Line > lines {
					t.Errorf("error line %d outside 1..%d: %v", e.Line, lines, e)
				}
				if !utf8.ValidString(e.Msg) && utf8.ValidString(src) {
					t.Errorf("invalid UTF-8 in %q", e.Msg)
				}
			}
			return
		}
		// A parsed script runs without panicking against an empty bot.
		Run(context.Background(), s, TurnerFunc(func(context.Context, string, string, TurnOptions) (TurnResult, error) {
			return TurnResult{}, nil
		}))
	})
}
