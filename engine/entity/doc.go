// Package entity extracts entities (slot values) from a normalized customer
// message: order ids, phone numbers, e-mail addresses, amounts, dates,
// times and numbers, plus the custom types that flows and config declare
// as a regexp or a lexicon of synonyms.
//
// It owns recognizing and canonicalizing values. It leaves normalization
// to engine/normalize (Extract expects its output: half-width, simplified,
// lower-case), and deciding which entity fills which slot to the dialog.
//
//	x, err := entity.New(entity.Config{Defs: []entity.Def{
//		{Name: "颜色", Values: map[string][]string{"红色": {"红", "大红"}}},
//	}})
//	es := x.Extract("明天下午3点送到", time.Now())
//	// date "明天" (tomorrow, as 2006-01-02), time "下午3点" (15:00)
//
// # Values
//
//   - order_id: as written, upper-cased: A2024112200123. The pattern is
//     Config.OrderPattern, matched ignoring case.
//   - phone: a Chinese mobile number, digits only, without +86:
//     13812345678 from 138-1234-5678 or +86 138 1234 5678. A bare 86
//     prefix needs a space or dash after it (8613812345678 is an order id).
//   - email: lower-cased.
//   - amount: yuan as a decimal without trailing zeros: ¥12.5, 12.5元,
//     12块5, 三块五毛 (3.5), 五毛 (0.5), 两百块 (200), 2.5万元 (25000).
//     After a one-digit Chinese numeral, 块, 毛 and 角 followed by a Han
//     rune that is not a particle are measure words (两块蛋糕, 三角形).
//   - number: a decimal (007 is 7, 1.50 is 1.5), or a Chinese numeral
//     followed by a measure word, which is not part of Text: 两件 gives 2
//     with Text 两; 一下 and 统一 give nothing.
//   - date: ISO 2006-01-02, in now's location. 今天 明天 后天 大后天 昨天
//     前天 大前天; M月D日 and M月D号 (the year nearest now: 1月3号 said in
//     December is next January), YYYY年M月D日, YYYY-MM-DD, YYYY/MM/DD,
//     YYYY.MM.DD. Weeks start on Monday: 周X, 星期X and 礼拜X alone mean
//     this week's X, like 本周X and 这周X, even when that day is past (周一
//     said on Sunday is six days ago; Chinese calls the coming one 下周一).
//     上周X and 下周X are the weeks before and after, 周末 is Saturday, and
//     a week or month alone (下周, 下个月) stands for its first day. 每周三 is
//     not a date.
//   - time: 15:04. 15:30, 下午3点半 (15:30), 晚上8点 (20:00), 中午1点
//     (13:00), 三点一刻, 3点15分. Without a period word the hour is read as
//     written (3点 is 03:00). 一点 after nothing, 早 or 晚 means "a little"
//     and is not a time.
//   - custom regexp: the match, or its group named value if it has one.
//   - custom lexicon: the canonical value as declared. Terms are matched
//     leftmost-longest after lower-casing and width folding (write them in
//     simplified Chinese); a term that starts or ends with a Latin letter or
//     digit must not touch another one (l is not found in hello).
//
// # Overlaps
//
// Candidates that overlap are resolved greedily: the longest, in runes,
// wins; on equal length the custom types win in declaration order, then
// phone, email, order_id, amount, date, time, number; then the leftmost.
// So an 11-digit mobile number is a phone, not an order id, 12.5元 is one
// amount rather than a number, and 下午3点 one time. A built-in value
// glued to a Latin letter or digit does not count: A13812345678 is an
// order id and holds no phone.
package entity
