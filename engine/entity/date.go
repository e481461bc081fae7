package entity

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	reDateNum = regexp.MustCompile(`(\d{4})([-/.])(\d{1,2})([-/.])(\d{1,2})`)
	reDateCN  = regexp.MustCompile(`(?:(\d{4}|` + cnDigit + `{4}) ?年 ?)?(\d{1,2}|` + cnSmall + `{1,3}) ?月 ?(\d{1,2}|` + cnSmall + `{1,3}) ?(日|号)?`)
	reWeek    = regexp.MustCompile(`(?:周|星期|礼拜)([一二三四五六日天末1-7])?`)

	reClock = regexp.MustCompile(`(\d{1,2}):(\d{2})(?::\d{2})?`)
	reDian  = regexp.MustCompile(`(\d{1,2}|` + cnSmall + `{1,3}) ?[点时](钟)?(?:(半)|(一刻)|(三刻)|(整)|(\d{1,2}|` + cnSmall + `{1,3}) ?(分)?)?`)
)

// Words looked for before a match; Go's regexp is several times slower
// with them as an optional leading group.
var (
	relPrefixes = []string{"上上个", "下下个", "上上", "下下", "上个", "下个", "这个", "上", "下", "本", "这"} // 上周, 下个月
	periods     = []string{"凌晨", "早上", "早晨", "上午", "中午", "下午", "傍晚", "晚上", "夜里", "夜间", "半夜", "早", "晚"}
)

// before returns the longest of words that text[:end] ends with, allowing
// one space after it if space is set, and where it starts (end when none).
func before(text string, end int, words []string, space bool) (string, int) {
	s := text[:end]
	if space {
		s = strings.TrimSuffix(s, " ")
	}
	best := ""
	for _, w := range words {
		if len(w) > len(best) && strings.HasSuffix(s, w) {
			best = w
		}
	}
	if best == "" {
		return "", end
	}
	return best, len(s) - len(best)
}

// findNear runs re over the part of text that can hold its matches, each
// of which holds one of anchors with at most before bytes before it and
// after bytes after it. Go's regexp tries every position it is given.
func findNear(re *regexp.Regexp, text, anchors string, before, after int) [][]int {
	first := strings.IndexAny(text, anchors)
	if first < 0 {
		return nil
	}
	last := strings.LastIndexAny(text, anchors)
	lo, hi := max(first-before, 0), min(last+after, len(text))
	for lo > 0 && !utf8.RuneStart(text[lo]) {
		lo--
	}
	for hi < len(text) && !utf8.RuneStart(text[hi]) {
		hi++
	}
	ms := re.FindAllStringSubmatchIndex(text[lo:hi], -1)
	for _, m := range ms {
		for i := range m {
			if m[i] >= 0 {
				m[i] += lo
			}
		}
	}
	return ms
}

// dayWords are the relative days, as offsets from today. All end in 天 or
// 日.
var dayWords = map[string]int{
	"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0,
	"明天": 1, "明日": 1, "后天": 2, "大后天": 3,
}

var dayList = slices.Collect(maps.Keys(dayWords))

func relOffset(prefix string) int {
	switch prefix {
	case "上上", "上上个":
		return -2
	case "上", "上个":
		return -1
	case "下", "下个":
		return 1
	case "下下", "下下个":
		return 2
	}
	return 0 // 本, 这, 这个, none
}

// weekday maps 一..日, 天, 1..7 and 末 (the weekend: Saturday) to days
// after Monday.
func weekday(s string) int {
	switch s {
	case "天":
		return 6
	case "末":
		return 5
	}
	if s[0] >= '1' && s[0] <= '7' {
		return int(s[0] - '1')
	}
	return strings.Index("一二三四五六日", s) / len("一")
}

func isoDate(t time.Time) string { return t.Format(time.DateOnly) }

// num parses a small Arabic or Chinese number (month, day, hour, minute).
func num(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	var ok bool
	if isDigit(s[0]) {
		n, ok = parseInt(s)
	} else {
		n, ok = parseCN(s, false)
	}
	return int(n), ok
}

// validDate returns the date y-m-d in loc, if it exists.
func validDate(y, m, d int, loc *time.Location) (time.Time, bool) {
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, loc)
	return t, t.Year() == y && int(t.Month()) == m && t.Day() == d
}

func dates(text string, now time.Time, add func(typ, value string, start, end int)) {
	loc := now.Location()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	if strings.ContainsAny(text, "-/.") {
		for _, m := range findNear(reDateNum, text, "-/.", 8, 16) {
			if text[m[4]:m[5]] != text[m[8]:m[9]] || !bounded(text, m[0], m[1]) {
				continue
			}
			y, _ := strconv.Atoi(text[m[2]:m[3]])
			mo, _ := strconv.Atoi(text[m[6]:m[7]])
			d, _ := strconv.Atoi(text[m[10]:m[11]])
			if t, ok := validDate(y, mo, d, loc); ok {
				add(TypeDate, isoDate(t), m[0], m[1])
			}
		}
	}
	if strings.Contains(text, "月") {
		for _, m := range findNear(reDateCN, text, "月", 32, 32) {
			if (m[0] > 0 && isDigit(text[m[0]-1])) || (m[1] < len(text) && isDigit(text[m[1]])) {
				continue
			}
			ms, ds := text[m[4]:m[5]], text[m[6]:m[7]]
			if m[8] < 0 && (!isDigit(ms[0]) || !isDigit(ds[0])) {
				continue // 1月一直没发货: a Chinese day needs 日 or 号
			}
			mo, ok1 := num(ms)
			d, ok2 := num(ds)
			if !ok1 || !ok2 {
				continue
			}
			var t time.Time
			ok := false
			if ys := group(text, m, 1); ys != "" {
				y, _ := parseInt(ys)
				if !isDigit(ys[0]) {
					y, _ = parseCN(ys, true)
				}
				t, ok = validDate(int(y), mo, d, loc)
			} else {
				t, ok = nearestDate(today, mo, d)
			}
			if ok {
				add(TypeDate, isoDate(t), m[0], m[1])
			}
		}
		for i := 0; ; {
			j := strings.Index(text[i:], "月")
			if j < 0 {
				break
			}
			i += j + len("月")
			if p, start := before(text, i-len("月"), relPrefixes, false); p != "" {
				t := time.Date(today.Year(), today.Month()+time.Month(relOffset(p)), 1, 0, 0, 0, 0, loc)
				add(TypeDate, isoDate(t), start, i)
			}
		}
	}
	if strings.ContainsAny(text, "天日") {
		days(text, today, add)
	}
	if strings.ContainsAny(text, "周期拜") {
		weeks(text, today, add)
	}
}

func days(text string, today time.Time, add func(typ, value string, start, end int)) {
	for i, r := range text {
		if r != '天' && r != '日' {
			continue
		}
		end := i + utf8.RuneLen(r)
		if w, start := before(text, end, dayList, false); w != "" {
			add(TypeDate, isoDate(today.AddDate(0, 0, dayWords[w])), start, end)
		}
	}
}

func weeks(text string, today time.Time, add func(typ, value string, start, end int)) {
	for _, m := range reWeek.FindAllStringSubmatchIndex(text, -1) {
		prefix, start := before(text, m[0], relPrefixes, false)
		end := m[1]
		if (prefix == "上" || prefix == "下") && endsWithAny(text[:start], "马", "晚", "早", "线", "楼", "以", "之") {
			prefix, start = "", m[0] // 马上周一, 晚上周三
		}
		if prefix == "" && m[2] < 0 {
			continue // 周 or 星期 alone
		}
		if b := text[:start]; endsWithAny(b, "每", "零", "一", "二", "两", "三", "四", "五", "六", "七", "八", "九", "十", "几") ||
			(b != "" && isDigit(b[len(b)-1])) {
			continue // 每周三, 两周
		}
		day := 0 // a week alone stands for its Monday
		if m[2] >= 0 {
			if hasClassifier(text[end:]) {
				continue // 一周三次
			}
			day = weekday(text[m[2]:m[3]])
		}
		// Weeks start on Monday; 周X alone is this week's X, as 本周X.
		monday := today.AddDate(0, 0, -(int(today.Weekday())+6)%7)
		add(TypeDate, isoDate(monday.AddDate(0, 0, 7*relOffset(prefix)+day)), start, end)
	}
}

// nearestDate returns month m, day d of the year (last, this or next)
// that puts it closest to today: 1月3日 said on 12月30日 is next year's.
func nearestDate(today time.Time, m, d int) (time.Time, bool) {
	var best time.Time
	found := false
	for y := today.Year() - 1; y <= today.Year()+1; y++ {
		t, ok := validDate(y, m, d, today.Location())
		if ok && (!found || absDur(t.Sub(today)) < absDur(best.Sub(today))) {
			best, found = t, true
		}
	}
	return best, found
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func endsWithAny(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

func times(text string, add func(typ, value string, start, end int)) {
	if strings.IndexByte(text, ':') >= 0 {
		for _, m := range reClock.FindAllStringSubmatchIndex(text, -1) {
			if (m[0] > 0 && (isDigit(text[m[0]-1]) || text[m[0]-1] == ':')) ||
				(m[1] < len(text) && (isDigit(text[m[1]]) || text[m[1]] == ':')) {
				continue
			}
			h, _ := strconv.Atoi(text[m[2]:m[3]])
			mi, _ := strconv.Atoi(text[m[4]:m[5]])
			per, start := before(text, m[0], periods, true)
			if v, ok := clock(per, h, mi); ok {
				add(TypeTime, v, start, m[1])
			}
		}
	}
	for _, m := range findNear(reDian, text, "点时", 16, 32) {
		if m[0] > 0 && isDigit(text[m[0]-1]) {
			continue
		}
		hs := group(text, m, 1)
		h, ok := num(hs)
		if !ok {
			continue
		}
		per, start := before(text, m[0], periods, true)
		mi := 0
		switch {
		case m[6] >= 0:
			mi = 30
		case m[8] >= 0:
			mi = 15
		case m[10] >= 0:
			mi = 45
		case m[14] >= 0:
			if mi, ok = num(group(text, m, 7)); !ok {
				continue
			}
			if m[16] < 0 && m[1] < len(text) && isDigit(text[m[1]]) {
				continue
			}
		case hs == "一" && (per == "" || per == "早" || per == "晚") && m[4] < 0 && m[12] < 0:
			continue // 快一点, 早一点: a little, not one o'clock
		}
		if v, ok := clock(per, h, mi); ok {
			add(TypeTime, v, start, m[1])
		}
	}
}

// group returns submatch i, or "".
func group(text string, m []int, i int) string {
	if m[2*i] < 0 {
		return ""
	}
	return text[m[2*i]:m[2*i+1]]
}

// clock formats h:mi as "15:04" after the period of the day: 下午3点 is
// 15:00, 中午1点 13:00, 晚上12点 and 凌晨12点 00:00. Without a period the
// hour is read as written.
func clock(period string, h, mi int) (string, bool) {
	if h > 24 || mi > 59 {
		return "", false
	}
	switch period {
	case "下午", "傍晚", "晚上", "夜里", "夜间", "晚":
		if h < 12 {
			h += 12
		} else if h == 12 && period != "下午" {
			h = 0
		}
	case "中午":
		if h < 11 {
			h += 12
		}
	case "凌晨", "半夜":
		if h == 12 {
			h = 0
		}
	}
	if h == 24 {
		h = 0
	}
	return fmt.Sprintf("%02d:%02d", h, mi), true
}
