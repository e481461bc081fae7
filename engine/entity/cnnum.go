package entity

import "strings"

// cnChars are the Chinese numeral runes.
const cnChars = "零〇一二两三四五六七八九十百千万"

// Regexp classes for Chinese numerals.
const (
	cnNum   = `[` + cnChars + `]` // any numeral
	cnSmall = `[零〇一二两三四五六七八九十]`   // up to 99
	cnDigit = `[零〇一二三四五六七八九]`     // digit by digit, as in years
)

func cnDigitValue(r rune) (int64, bool) {
	switch r {
	case '零', '〇':
		return 0, true
	case '一':
		return 1, true
	case '二', '两':
		return 2, true
	case '三':
		return 3, true
	case '四':
		return 4, true
	case '五':
		return 5, true
	case '六':
		return 6, true
	case '七':
		return 7, true
	case '八':
		return 8, true
	case '九':
		return 9, true
	}
	return 0, false
}

func cnUnitValue(r rune) (int64, bool) {
	switch r {
	case '十':
		return 10, true
	case '百':
		return 100, true
	case '千':
		return 1000, true
	case '万':
		return 10000, true
	}
	return 0, false
}

// parseCN parses a Chinese numeral: 五, 十五, 二十, 一百零五, 两千五 (2500,
// the spoken short form), 三万五 (35000), 百 (100). Digit-by-digit forms
// such as 二〇二六 are accepted only when digits is set (years); otherwise
// 三四 is rejected. It handles up to 12 runes, below 10^12.
func parseCN(s string, digits bool) (int64, bool) {
	if s == "" || len(s) > 12*3 {
		return 0, false
	}
	if !strings.ContainsAny(s, "十百千万") {
		var n int64
		count := 0
		for _, r := range s {
			d, ok := cnDigitValue(r)
			if !ok {
				return 0, false
			}
			n = n*10 + d
			count++
		}
		if count != 1 && !digits {
			return 0, false
		}
		return n, true
	}
	var total, section, lastUnit int64
	num := int64(-1) // a digit waiting for its unit
	zero := false    // 零 since the last unit, as in 一百零五
	for _, r := range s {
		if d, ok := cnDigitValue(r); ok {
			if d == 0 {
				zero = true
				continue
			}
			if num >= 0 {
				return 0, false // 三四
			}
			num = d
			continue
		}
		u, ok := cnUnitValue(r)
		if !ok {
			return 0, false
		}
		if u == 10000 {
			if num >= 0 {
				section += num
			}
			if section == 0 {
				section = 1 // 万 alone
			}
			if total != 0 {
				return 0, false // 一万二万
			}
			total, section, num, lastUnit, zero = section*10000, 0, -1, u, false
			continue
		}
		if lastUnit != 0 && lastUnit != 10000 && u >= lastUnit {
			return 0, false // 十百
		}
		if num < 0 {
			num = 1 // 十五, 百
		}
		section += num * u
		num, lastUnit, zero = -1, u, false
	}
	if num >= 0 {
		if !zero && lastUnit >= 100 {
			num *= lastUnit / 10 // 两千五 = 2500
		}
		section += num
	}
	return total + section, true
}
