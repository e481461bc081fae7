package entity

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-chat/kefu/models/evaluate"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// now is Sunday 2026-11-22, 10:00 in Shanghai.
var now = func() time.Time {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		loc = time.FixedZone("CST", 8*3600)
	}
	return time.Date(2026, 11, 22, 10, 0, 0, 0, loc)
}()

func newT(t testing.TB, cfg Config) *Extractor {
	t.Helper()
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// ent is a wanted Entity; check finds its offsets from its text.
type ent struct{ typ, value, text string }

func check(t *testing.T, x *Extractor, in string, want []ent) {
	t.Helper()
	got := x.Extract(in, now)
	var w []Entity
	from := 0
	runes := []rune(in)
	for _, e := range want {
		i := strings.Index(string(runes[from:]), e.text)
		if i < 0 {
			t.Fatalf("bad test: %q not in %q", e.text, in)
		}
		start := from + utf8.RuneCountInString(string(runes[from:])[:i])
		end := start + utf8.RuneCountInString(e.text)
		w = append(w, Entity{Type: e.typ, Value: e.value, Text: e.text, Start: start, End: end})
		from = end
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("Extract(%q) mismatch (-want +got):\n%s", in, diff)
	}
}

func TestBuiltins(t *testing.T) {
	x := newT(t, Config{})
	tests := []struct {
		name string
		in   string
		want []ent
	}{
		{"empty", "", nil},
		{"nothing", "你好，在吗", nil},

		{"order id", "我的订单号是 A2024112200123 怎么还没到", []ent{{TypeOrderID, "A2024112200123", "A2024112200123"}}},
		{"order id lower-cased", "我的订单号是 a2024112200123 怎么还没到", []ent{{TypeOrderID, "A2024112200123", "a2024112200123"}}},
		{"order id digits", "订单20241122001234567", []ent{{TypeOrderID, "20241122001234567", "20241122001234567"}}},
		{"order id too long a prefix", "订单abcd12345678", nil},

		{"phone dashes", "手机 138-1234-5678", []ent{{TypePhone, "13812345678", "138-1234-5678"}}},
		{"phone spaces +86", "电话+86 138 1234 5678谢谢", []ent{{TypePhone, "13812345678", "+86 138 1234 5678"}}},
		{"phone beats order id", "我的手机号13812345678", []ent{{TypePhone, "13812345678", "13812345678"}}},
		{"phone 86-", "86-13812345678", []ent{{TypePhone, "13812345678", "86-13812345678"}}},
		{"bare 86 is an order id", "8613812345678", []ent{{TypeOrderID, "8613812345678", "8613812345678"}}},
		{"12 digits is no phone", "138123456789", []ent{{TypeOrderID, "138123456789", "138123456789"}}},
		{"not a mobile prefix", "手机12812345678", []ent{{TypeOrderID, "12812345678", "12812345678"}}},

		{"email", "邮箱 Foo.Bar@QQ.com 谢谢", []ent{{TypeEmail, "foo.bar@qq.com", "Foo.Bar@QQ.com"}}},
		{"email with digits", "发到12345678@qq.com", []ent{{TypeEmail, "12345678@qq.com", "12345678@qq.com"}}},

		{"amount chinese", "退我五十元", []ent{{TypeAmount, "50", "五十元"}}},
		{"amount 两百块", "两百块能便宜吗", []ent{{TypeAmount, "200", "两百块"}}},
		{"amount yen", "¥12.5", []ent{{TypeAmount, "12.5", "¥12.5"}}},
		{"amount full-width yen", "￥99", []ent{{TypeAmount, "99", "￥99"}}},
		{"amount 元", "运费12.50元", []ent{{TypeAmount, "12.5", "12.50元"}}},
		{"amount 块5", "12块5", []ent{{TypeAmount, "12.5", "12块5"}}},
		{"amount 块50", "12块50", []ent{{TypeAmount, "12.5", "12块50"}}},
		{"amount 三块五毛", "三块五毛", []ent{{TypeAmount, "3.5", "三块五毛"}}},
		{"amount 一块五毛五", "一块五毛五", []ent{{TypeAmount, "1.55", "一块五毛五"}}},
		{"amount 五毛钱", "就差五毛钱", []ent{{TypeAmount, "0.5", "五毛钱"}}},
		{"amount 块钱", "十块钱", []ent{{TypeAmount, "10", "十块钱"}}},
		{"amount 万", "预算2.5万元", []ent{{TypeAmount, "25000", "2.5万元"}}},
		{"amount 块吧", "五块吧", []ent{{TypeAmount, "5", "五块"}}},
		{"amount 块 each", "五块一个", []ent{{TypeAmount, "5", "五块"}, {TypeNumber, "1", "一"}}},
		{"amount arabic 块", "50块运费", []ent{{TypeAmount, "50", "50块"}}},
		{"amount 5毛", "5毛", []ent{{TypeAmount, "0.5", "5毛"}}},
		{"一块手表", "一块手表", []ent{{TypeNumber, "1", "一"}}},
		{"块 as a measure word", "两块蛋糕", []ent{{TypeNumber, "2", "两"}}},
		{"三角形 is no money", "三角形", nil},
		{"毛衣 is no money", "毛衣", nil},

		{"number arabic", "买3件", []ent{{TypeNumber, "3", "3"}}},
		{"number decimal", "重1.50公斤", []ent{{TypeNumber, "1.5", "1.50"}}},
		{"number leading zeros", "第007号", []ent{{TypeNumber, "7", "007"}}},
		{"number chinese", "两件衣服三个包", []ent{{TypeNumber, "2", "两"}, {TypeNumber, "3", "三"}}},
		{"number 九十九", "九十九个", []ent{{TypeNumber, "99", "九十九"}}},
		{"number 一下 is none", "等一下，统一发货", nil},
		{"number glued to letters", "iphone15", nil},
		{"number spaced from letters", "iphone 15", []ent{{TypeNumber, "15", "15"}}},

		{"today and tomorrow", "今天 明天 后天 大后天", []ent{
			{TypeDate, "2026-11-22", "今天"}, {TypeDate, "2026-11-23", "明天"},
			{TypeDate, "2026-11-24", "后天"}, {TypeDate, "2026-11-25", "大后天"}}},
		{"yesterday", "昨天 前天 大前天", []ent{
			{TypeDate, "2026-11-21", "昨天"}, {TypeDate, "2026-11-20", "前天"}, {TypeDate, "2026-11-19", "大前天"}}},
		{"M月D日", "11月23日到货", []ent{{TypeDate, "2026-11-23", "11月23日"}}},
		{"M月D号 chinese", "十一月二十三号", []ent{{TypeDate, "2026-11-23", "十一月二十三号"}}},
		{"M月D", "11月23送到", []ent{{TypeDate, "2026-11-23", "11月23"}}},
		{"nearest year ahead", "1月3号能到吗", []ent{{TypeDate, "2027-01-03", "1月3号"}}},
		{"nearest year this year", "我6月1号买的", []ent{{TypeDate, "2026-06-01", "6月1号"}}},
		{"ISO", "2026-11-23", []ent{{TypeDate, "2026-11-23", "2026-11-23"}}},
		{"slashes", "2026/11/3", []ent{{TypeDate, "2026-11-03", "2026/11/3"}}},
		{"dots", "2026.11.03", []ent{{TypeDate, "2026-11-03", "2026.11.03"}}},
		{"mixed separators", "2026-11/03", []ent{{TypeNumber, "2026", "2026"}, {TypeNumber, "11", "11"}, {TypeNumber, "3", "03"}}},
		{"年月日", "2026年11月23日", []ent{{TypeDate, "2026-11-23", "2026年11月23日"}}},
		{"年月日 chinese", "二〇二六年十一月二十三日", []ent{{TypeDate, "2026-11-23", "二〇二六年十一月二十三日"}}},
		{"no such day", "2月30日", []ent{{TypeNumber, "2", "2"}, {TypeNumber, "30", "30"}}},
		{"下个月", "下个月再说", []ent{{TypeDate, "2026-12-01", "下个月"}}},
		{"上个月", "上个月买的", []ent{{TypeDate, "2026-10-01", "上个月"}}},
		{"本月", "本月", []ent{{TypeDate, "2026-11-01", "本月"}}},
		{"1月一直", "1月一直没发货", []ent{{TypeNumber, "1", "1"}}},

		{"time tomorrow afternoon", "明天下午3点送到", []ent{{TypeDate, "2026-11-23", "明天"}, {TypeTime, "15:00", "下午3点"}}},
		{"time 下午3点半", "下午3点半", []ent{{TypeTime, "15:30", "下午3点半"}}},
		{"time 上午10点", "上午10点", []ent{{TypeTime, "10:00", "上午10点"}}},
		{"time 晚上8点", "晚上8点", []ent{{TypeTime, "20:00", "晚上8点"}}},
		{"time 晚上十二点", "晚上十二点", []ent{{TypeTime, "00:00", "晚上十二点"}}},
		{"time 中午1点", "中午1点", []ent{{TypeTime, "13:00", "中午1点"}}},
		{"time 中午12点", "中午12点", []ent{{TypeTime, "12:00", "中午12点"}}},
		{"time 凌晨一点", "凌晨一点", []ent{{TypeTime, "01:00", "凌晨一点"}}},
		{"time clock", "15:30前发货", []ent{{TypeTime, "15:30", "15:30"}}},
		{"time clock with period", "下午3:30", []ent{{TypeTime, "15:30", "下午3:30"}}},
		{"time 三点一刻", "三点一刻", []ent{{TypeTime, "03:15", "三点一刻"}}},
		{"time 3点15分", "3点15分", []ent{{TypeTime, "03:15", "3点15分"}}},
		{"time no period", "3点", []ent{{TypeTime, "03:00", "3点"}}},
		{"time 25:00", "25:00", []ent{{TypeNumber, "25", "25"}, {TypeNumber, "0", "00"}}},
		{"一点 is a little", "快一点，便宜一点，早一点", nil},
		{"一点半 is a time", "一点半", []ent{{TypeTime, "01:30", "一点半"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, x, tt.in, tt.want) })
	}
}

// The week convention: weeks start on Monday and 周X alone is this week's
// X. now is a Sunday, the last day of its week.
func TestWeekdays(t *testing.T) {
	x := newT(t, Config{})
	tests := []struct {
		in, want string
	}{
		{"周一", "2026-11-16"}, // six days ago: the coming one is 下周一
		{"周六", "2026-11-21"},
		{"周日", "2026-11-22"},
		{"周天", "2026-11-22"},
		{"星期三", "2026-11-18"},
		{"星期天", "2026-11-22"},
		{"礼拜一", "2026-11-16"},
		{"本周五", "2026-11-20"},
		{"这周六", "2026-11-21"},
		{"这个星期二", "2026-11-17"},
		{"下周一", "2026-11-23"},
		{"下星期三", "2026-11-25"},
		{"下个礼拜天", "2026-11-29"},
		{"上周五", "2026-11-13"},
		{"上上周一", "2026-11-02"},
		{"下下周一", "2026-11-30"},
		{"周末", "2026-11-21"},
		{"下周", "2026-11-23"},
		{"上周", "2026-11-09"},
		{"周7", "2026-11-22"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) { check(t, x, tt.in, []ent{{TypeDate, tt.want, tt.in}}) })
	}
	check(t, x, "马上周一发货", []ent{{TypeDate, "2026-11-16", "周一"}})
	check(t, x, "每周三发货", nil)
	check(t, x, "一周三次", []ent{{TypeNumber, "1", "一"}, {TypeNumber, "3", "三"}})

	// On a Wednesday, 周一 is two days ago and 周五 two days ahead.
	wed := time.Date(2026, 11, 18, 9, 0, 0, 0, now.Location())
	got := x.Extract("周一 周五", wed)
	if got[0].Value != "2026-11-16" || got[1].Value != "2026-11-20" {
		t.Errorf("on Wednesday: %+v", got)
	}
}

// Dates are computed in now's location, not UTC.
func TestDateLocation(t *testing.T) {
	x := newT(t, Config{})
	late := time.Date(2026, 11, 22, 23, 30, 0, 0, now.Location()) // 15:30 UTC
	if got := x.Extract("今天", late)[0].Value; got != "2026-11-22" {
		t.Errorf("今天 at 23:30 Shanghai = %s", got)
	}
	if got := x.Extract("今天", late.UTC())[0].Value; got != "2026-11-22" {
		t.Errorf("今天 at 15:30 UTC = %s", got)
	}
}

func TestCustom(t *testing.T) {
	x := newT(t, Config{Defs: []Def{
		{Name: "颜色", Values: map[string][]string{"红色": {"红", "大红", "RED"}, "黑色": {"黑", "ｂｌａｃｋ"}}},
		{Name: "尺码", Values: map[string][]string{"XL": {"加大"}, "L": nil}},
		{Name: "快递单号", Pattern: `sf(?P<value>\d{12})`},
		{Name: "型号", Pattern: `[a-z]\d{8}`},
	}})
	tests := []struct {
		name string
		in   string
		want []ent
	}{
		{"lexicon", "要红色的,xl码,不要黑", []ent{{"颜色", "红色", "红色"}, {"尺码", "XL", "xl"}, {"颜色", "黑色", "黑"}}},
		{"synonym", "有大红吗", []ent{{"颜色", "红色", "大红"}}},
		{"folded synonyms", "red or black", []ent{{"颜色", "红色", "red"}, {"颜色", "黑色", "black"}}},
		{"latin term needs boundaries", "l 不是 hello", []ent{{"尺码", "L", "l"}}},
		{"longest term", "加大码", []ent{{"尺码", "XL", "加大"}}},
		{"regex value group", "顺丰sf123456789012", []ent{{"快递单号", "123456789012", "sf123456789012"}}},
		{"custom beats order id on a tie", "a12345678", []ent{{"型号", "a12345678", "a12345678"}}},
		{"longer order id beats custom", "ab12345678", []ent{{TypeOrderID, "AB12345678", "ab12345678"}}},
		{"lexicon beside builtins", "明天要两件红的", []ent{{TypeDate, "2026-11-23", "明天"}, {TypeNumber, "2", "两"}, {"颜色", "红色", "红"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, x, tt.in, tt.want) })
	}
}

func TestOrderPattern(t *testing.T) {
	x := newT(t, Config{OrderPattern: `KF-\d{6}`})
	check(t, x, "订单kf-123456", []ent{{TypeOrderID, "KF-123456", "kf-123456"}})
	check(t, x, "A2024112200123", nil)
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"bad pattern", Config{Defs: []Def{{Name: "快递单号", Pattern: `sf(\d+`}}}, "entity: 快递单号: bad pattern: error parsing regexp: missing closing ): `sf(\\d+`"},
		{"bad order pattern", Config{OrderPattern: `[`}, "entity: order_id: bad pattern: error parsing regexp: missing closing ]: `[`"},
		{"no name", Config{Defs: []Def{{Pattern: "x"}}}, "entity: def 1 has no name"},
		{"builtin name", Config{Defs: []Def{{Name: "phone", Pattern: "x"}}}, "entity: phone: name of a built-in type"},
		{"twice", Config{Defs: []Def{{Name: "颜色", Pattern: "x"}, {Name: "颜色", Pattern: "y"}}}, "entity: 颜色: declared twice"},
		{"both", Config{Defs: []Def{{Name: "颜色", Pattern: "x", Values: map[string][]string{"红": nil}}}}, "entity: 颜色: has both a pattern and values"},
		{"neither", Config{Defs: []Def{{Name: "颜色"}}}, "entity: 颜色: needs a pattern or values"},
		{"empty synonym", Config{Defs: []Def{{Name: "颜色", Values: map[string][]string{"红色": {" "}}}}}, `entity: 颜色: empty synonym of "红色"`},
		{"synonym twice", Config{Defs: []Def{{Name: "颜色", Values: map[string][]string{"大红": {"红"}, "红色": {"红"}}}}}, `entity: 颜色: "红" is listed for both "大红" and "红色"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("New() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestTypes(t *testing.T) {
	x := newT(t, Config{Defs: []Def{{Name: "颜色", Values: map[string][]string{"红色": nil}}, {Name: "快递单号", Pattern: `sf\d{12}`}}})
	want := []string{"phone", "email", "order_id", "amount", "date", "time", "number", "颜色", "快递单号"}
	if diff := cmp.Diff(want, x.Types()); diff != "" {
		t.Errorf("Types() mismatch (-want +got):\n%s", diff)
	}
}

// A term listed in two lexicons is found once, for the earlier one.
func TestSharedTerm(t *testing.T) {
	x := newT(t, Config{Defs: []Def{
		{Name: "颜色", Values: map[string][]string{"橙色": {"橙"}}},
		{Name: "水果", Values: map[string][]string{"橙子": {"橙"}}},
	}})
	check(t, x, "要橙", []ent{{"颜色", "橙色", "橙"}})
	check(t, x, "要橙子", []ent{{"水果", "橙子", "橙子"}})
}

func TestInvalidUTF8(t *testing.T) {
	x := newT(t, Config{})
	got := x.Extract("\xff\xfe明天", now)
	want := []Entity{{Type: TypeDate, Value: "2026-11-23", Text: "明天", Start: 2, End: 4}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestParseCN(t *testing.T) {
	tests := []struct {
		in     string
		digits bool
		want   int64
		ok     bool
	}{
		{"五", false, 5, true},
		{"十", false, 10, true},
		{"十五", false, 15, true},
		{"二十", false, 20, true},
		{"九十九", false, 99, true},
		{"两百", false, 200, true},
		{"一百零五", false, 105, true},
		{"一百二", false, 120, true},
		{"两千五", false, 2500, true},
		{"三万五", false, 35000, true},
		{"一万二千三百四十五", false, 12345, true},
		{"一千零二十", false, 1020, true},
		{"百", false, 100, true},
		{"万", false, 10000, true},
		{"二〇二六", true, 2026, true},
		{"二〇二六", false, 0, false},
		{"三四", false, 0, false},
		{"十百", false, 0, false},
		{"", false, 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCN(tt.in, tt.digits)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCN(%q, %v) = %d, %v, want %d, %v", tt.in, tt.digits, got, ok, tt.want, tt.ok)
		}
	}
}

func TestConcurrent(t *testing.T) {
	x := newT(t, Config{Defs: []Def{{Name: "颜色", Values: map[string][]string{"红色": {"红"}}}}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got := x.Extract("明天要红的", now); len(got) != 2 {
					t.Errorf("Extract: %+v", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		"", "我的订单号是 a2024112200123 怎么还没到", "手机 138-1234-5678", "明天下午3点送到", "退我五十元",
		"12块5", "三块五毛", "¥12.5", "下周一", "十一月二十三号", "2026-11-23", "15:30", "两件红的",
		"一块五毛五", "晚上十二点", "a\xffb", "邮箱 a@b.cn", "sf123456789012", "加大码",
	} {
		f.Add(s)
	}
	// And what customers write: the demo bot's held-out intent examples.
	demo, err := evaluate.ReadExamplesFile("../../testdata/bots/demo/intents/test.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range demo {
		f.Add(e.Text)
	}
	x := newT(f, Config{Defs: []Def{
		{Name: "颜色", Values: map[string][]string{"红色": {"红", "大红"}, "黑色": {"黑"}}},
		{Name: "尺码", Values: map[string][]string{"XL": {"加大"}, "L": nil}},
		{Name: "快递单号", Pattern: `sf(?P<value>\d{12})`},
	}})
	f.Fuzz(func(t *testing.T, in string) {
		es := x.Extract(in, now)
		runes := []rune(in)
		end := 0
		for _, e := range es {
			if e.Start < end || e.Start >= e.End || e.End > len(runes) {
				t.Fatalf("bad offsets %+v after %d in %q (%d runes)", e, end, in, len(runes))
			}
			if got := string(runes[e.Start:e.End]); got != e.Text {
				t.Fatalf("Text %q, but runes[%d:%d] = %q", e.Text, e.Start, e.End, got)
			}
			if e.Value == "" || !slices.Contains(x.Types(), e.Type) {
				t.Fatalf("bad entity %+v", e)
			}
			end = e.End
		}
	})
}

func BenchmarkExtract(b *testing.B) {
	x := newT(b, Config{Defs: []Def{
		{Name: "颜色", Values: map[string][]string{"红色": {"红", "大红"}, "黑色": {"黑"}}},
		{Name: "尺码", Values: map[string][]string{"XL": {"加大"}, "L": nil}},
	}})
	for _, bb := range []struct{ name, in string }{
		{"typical", "你好,我的订单a2024112200123还没到,明天下午3点前能送到吗?电话138-1234-5678"},
		{"short", "要两件红色的xl"},
		{"none", "你好在吗"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				x.Extract(bb.in, now)
			}
		})
	}
}
