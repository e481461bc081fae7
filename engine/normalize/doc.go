// Package normalize turns a customer's raw message into the text that
// intents, entities and flows match against.
//
// It owns, in this order: replacing invalid UTF-8 with U+FFFD, folding
// full-width forms to half-width (golang.org/x/text/width), dropping
// zero-width characters, lower-casing, collapsing runs of whitespace and
// control characters to one space, converting traditional Chinese to
// simplified (OpenCC t2s, github.com/longbridgeapp/opencc), and finding
// sensitive words (leftmost-longest, github.com/petar-dambovaliev/aho-corasick),
// which it masks or reports as blocking. Sensitive words pass through the
// same pipeline at New, so 退貨 or ＴＭＤ in a message is caught by 退货 or
// tmd in the list, and the reverse.
//
// The original message is kept untouched in Result.Original for memory
// and logs; only Result.Text is meant for matching. Intent classification,
// entity extraction and what to answer to a blocked message belong to
// other packages.
//
//	n, err := normalize.New(normalize.DefaultConfig())
//	if err != nil { ... }
//	r := n.Normalize("這個訂單還沒發貨？")
//	// r.Text == "这个订单还没发货?"
//
// Normalize is idempotent: normalizing Result.Text again gives the same
// Text. Without sensitive words a typical message costs under a
// microsecond and allocates at most its Text; a word list adds a
// microsecond or two. Traditional Chinese is the expensive case: OpenCC's
// Go port takes about 15 µs and 86 allocations for an 18-rune message.
package normalize
