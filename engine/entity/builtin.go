package entity

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

var (
	rePhone = regexp.MustCompile(`(?:\+86[ -]?|86[ -])?1[3-9]\d(?:[ -]?\d{4}){2}`)
	reEmail = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,}`)

	// ¥12.5, ￥ 3万
	reAmountSign = regexp.MustCompile(`[¥￥] ?(\d{1,12}(?:\.\d{1,4})?)( ?万)?(?:元|块钱|块)?`)
	// 12.5元, 2万元, 五十元, 两百块, 三块 (a tail such as 五, 5毛 or 50 is parsed by amountTail)
	reAmountUnit = regexp.MustCompile(`(\d{1,12}(?:\.\d{1,4})?|` + cnNum + `{1,12}) ?(万)?(元|块钱|块|圆)`)
	// 五毛, 5角钱
	reAmountJiao = regexp.MustCompile(`(\d{1,2}|` + cnSmall + `{1,3})(角钱|毛钱|角|毛)`)
)

// classifiers are measure words that make a Chinese numeral a number: 两件,
// 三个. Without one, 一 in 一下 or 统一 is not a number.
var classifiers = []string{
	"分钟", "小时", "公斤", "公里", "厘米", "毫升",
	"个", "件", "只", "双", "条", "套", "台", "瓶", "盒", "包", "箱", "张", "本", "支", "斤",
	"克", "次", "位", "份", "袋", "罐", "桶", "根", "片", "颗", "粒", "枚", "把", "对", "副",
	"辆", "间", "层", "天", "周", "年", "岁", "单", "款", "种", "样", "色", "米", "升", "寸",
	"尺", "组", "批", "趟", "遍", "回", "块", "人", "家", "部", "顶", "架", "盏", "扇", "封",
}

// particles may follow 块, 毛 or 角 after a one-digit Chinese numeral in
// an amount (五块吧, 五块一个); another Han rune makes them measure words
// (两块蛋糕, 一块手表, 三角形).
const particles = "钱多左的了吧吗呢啊呀嘛哦哈还就都也一包运能可太给行够以不没是买卖退贵便"

func hasClassifier(s string) bool {
	for _, c := range classifiers {
		if strings.HasPrefix(s, c) {
			return true
		}
	}
	return false
}

// builtinCands finds the built-in types, in byte offsets.
func builtinCands(text string, order *regexp.Regexp, now time.Time, add func(typ, value string, start, end int)) {
	hasDigit := strings.IndexFunc(text, func(r rune) bool { return '0' <= r && r <= '9' }) >= 0
	if hasDigit {
		orders(text, order, add)
		phones(text, add)
	}
	if strings.IndexByte(text, '@') >= 0 {
		for _, m := range reEmail.FindAllStringIndex(text, -1) {
			add(TypeEmail, strings.ToLower(text[m[0]:m[1]]), m[0], m[1])
		}
	}
	if strings.ContainsAny(text, "¥￥元块圆毛角") {
		amounts(text, add)
	}
	dates(text, now, add)
	times(text, add)
	numbers(text, hasDigit, add)
}

// bounded reports whether text[start:end] is not glued to a Latin letter
// or digit on either side.
func bounded(text string, start, end int) bool {
	return (start == 0 || !isAlnum(text[start-1])) && (end == len(text) || !isAlnum(text[end]))
}

func orders(text string, re *regexp.Regexp, add func(typ, value string, start, end int)) {
	for _, m := range re.FindAllStringIndex(text, -1) {
		if bounded(text, m[0], m[1]) {
			add(TypeOrderID, strings.ToUpper(text[m[0]:m[1]]), m[0], m[1])
		}
	}
}

func phones(text string, add func(typ, value string, start, end int)) {
	for _, m := range rePhone.FindAllStringIndex(text, -1) {
		if !bounded(text, m[0], m[1]) {
			continue
		}
		var b strings.Builder
		for _, c := range []byte(text[m[0]:m[1]]) {
			if isDigit(c) {
				b.WriteByte(c)
			}
		}
		add(TypePhone, b.String()[b.Len()-11:], m[0], m[1])
	}
}

func amounts(text string, add func(typ, value string, start, end int)) {
	for _, m := range reAmountSign.FindAllStringSubmatchIndex(text, -1) {
		v, ok := parseDecimal(text[m[2]:m[3]])
		if ok && m[4] >= 0 {
			v, ok = mul(v, 10000)
		}
		if ok && (m[1] == len(text) || !isDigit(text[m[1]])) {
			add(TypeAmount, formatDecimal(v), m[0], m[1])
		}
	}
	for _, m := range reAmountUnit.FindAllStringSubmatchIndex(text, -1) {
		num := text[m[2]:m[3]]
		var v int64
		var ok bool
		if isDigit(num[0]) {
			if m[0] > 0 && (isAlnum(text[m[0]-1]) || text[m[0]-1] == '.') {
				continue
			}
			v, ok = parseDecimal(num)
		} else {
			var n int64
			n, ok = parseCN(num, false)
			v, ok = n*10000, ok && n < 1e12
		}
		if ok && m[4] >= 0 {
			v, ok = mul(v, 10000)
		}
		if !ok {
			continue
		}
		end := m[1]
		fen, n := 0, 0
		if !strings.Contains(num, ".") {
			fen, n = amountTail(text[end:])
		}
		if n > 0 {
			v += int64(fen) * 100
			end += n
		} else if !amountEnds(text, num, m[6], end) {
			continue
		}
		add(TypeAmount, formatDecimal(v), m[0], end)
	}
	for _, m := range reAmountJiao.FindAllStringSubmatchIndex(text, -1) {
		num := text[m[2]:m[3]]
		var n int64
		var ok bool
		if isDigit(num[0]) {
			if m[0] > 0 && (isAlnum(text[m[0]-1]) || text[m[0]-1] == '.') {
				continue
			}
			n, ok = parseInt(num)
		} else {
			n, ok = parseCN(num, false)
		}
		if ok && amountEnds(text, num, m[4], m[1]) {
			add(TypeAmount, formatDecimal(n*1000), m[0], m[1])
		}
	}
}

// amountEnds reports whether an amount of num whose unit starts at unit
// and which ends at end really is one. No amount runs into a digit, and
// after a one-digit Chinese numeral 块, 毛 and 角 followed by a Han rune
// other than a particle are measure words.
func amountEnds(text, num string, unit, end int) bool {
	if end < len(text) && isDigit(text[end]) {
		return false
	}
	u, _ := utf8.DecodeRuneInString(text[unit:])
	if u == '元' || u == '圆' || strings.HasSuffix(text[unit:end], "钱") ||
		isDigit(num[0]) || utf8.RuneCountInString(num) > 1 {
		return true
	}
	r, _ := utf8.DecodeRuneInString(text[end:])
	return end == len(text) || !unicode.Is(unicode.Han, r) || strings.ContainsRune(particles, r)
}

// amountTail parses what may follow 元 or 块: 5 or 五 (jiao), 50 (fen),
// 5毛, 五角钱, 5毛5, 五毛五分. It returns the fen and the bytes read, or
// 0, 0 when there is no tail.
func amountTail(s string) (fen, n int) {
	digit := func(s string) (int, int) {
		if s != "" && isDigit(s[0]) {
			return int(s[0] - '0'), 1
		}
		r, size := utf8.DecodeRuneInString(s)
		if d, ok := cnDigitValue(r); ok {
			return int(d), size
		}
		return 0, 0
	}
	unit := func(s string, units ...string) int {
		for _, u := range units {
			if strings.HasPrefix(s, u) {
				return len(u)
			}
		}
		return 0
	}
	jiao, i := digit(s)
	if i == 0 {
		return 0, 0
	}
	if i == 1 && len(s) > 1 && isDigit(s[1]) { // 12块50
		if len(s) > 2 && (isDigit(s[2]) || unit(s[2:], "角", "毛", "分") > 0) {
			return 0, 0
		}
		return jiao*10 + int(s[1]-'0'), 2
	}
	fen = jiao * 10
	if u := unit(s[i:], "角钱", "毛钱", "角", "毛"); u > 0 {
		i += u
		if d, j := digit(s[i:]); j > 0 {
			k := unit(s[i+j:], "分钱", "分")
			next, _ := utf8.DecodeRuneInString(s[i+j+k:])
			if _, isNum := cnDigitValue(next); !isNum && (i+j+k == len(s) || !isDigit(s[i+j+k])) {
				fen += d
				i += j + k
			}
		}
		return fen, i
	}
	// A bare digit: 三块五, 3块5, but not 3块5斤 or 3块55.
	rest := s[i:]
	if rest != "" && (isDigit(rest[0]) || hasClassifier(rest)) {
		return 0, 0
	}
	if r, _ := utf8.DecodeRuneInString(rest); rest != "" {
		if _, ok := cnDigitValue(r); ok {
			return 0, 0
		}
		if _, ok := cnUnitValue(r); ok {
			return 0, 0
		}
	}
	return fen, i
}

func numbers(text string, hasDigit bool, add func(typ, value string, start, end int)) {
	for i := 0; hasDigit && i < len(text); {
		if !isDigit(text[i]) {
			i++
			continue
		}
		start := i
		for i < len(text) && isDigit(text[i]) {
			i++
		}
		if i+1 < len(text) && text[i] == '.' && isDigit(text[i+1]) {
			for i++; i < len(text) && isDigit(text[i]); i++ {
			}
		}
		if (start > 0 && (isAlnum(text[start-1]) || text[start-1] == '.')) || (i < len(text) && isAlnum(text[i])) {
			continue
		}
		add(TypeNumber, canonDecimal(text[start:i]), start, i)
	}
	start := -1 // of a run of Chinese numerals
	for i, r := range text {
		if strings.ContainsRune(cnChars, r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && hasClassifier(text[i:]) {
			if n, ok := parseCN(text[start:i], false); ok {
				add(TypeNumber, strconv.FormatInt(n, 10), start, i)
			}
		}
		start = -1
	}
}

// parseInt parses ASCII digits, at most 12.
func parseInt(s string) (int64, bool) {
	if s == "" || len(s) > 12 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// parseDecimal parses 12 or 12.5 (at most 12 digits and 4 decimals) into
// ten-thousandths.
func parseDecimal(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	w, ok := parseInt(whole)
	if !ok || len(frac) > 4 {
		return 0, false
	}
	f := int64(0)
	if frac != "" {
		if f, ok = parseInt((frac + "000")[:4]); !ok {
			return 0, false
		}
	}
	return w*10000 + f, true
}

// mul multiplies v by k, failing past 10^18.
func mul(v, k int64) (int64, bool) {
	if v > 1e18/k {
		return 0, false
	}
	return v * k, true
}

// formatDecimal formats ten-thousandths without trailing zeros: 125000 is
// "12.5".
func formatDecimal(v int64) string {
	s := strconv.FormatInt(v/10000, 10)
	if f := v % 10000; f != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(10000+f, 10)[1:], "0")
	}
	return s
}

// canonDecimal drops leading zeros and trailing decimal zeros: 007 is 7,
// 1.50 is 1.5.
func canonDecimal(s string) string {
	whole, frac, _ := strings.Cut(s, ".")
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	if frac = strings.TrimRight(frac, "0"); frac != "" {
		return whole + "." + frac
	}
	return whole
}
