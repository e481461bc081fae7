package session

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unique"

	"github.com/kefu-chat/kefu/internal/wire"
)

// The storage encoding, format 2, is binary: a format byte (2; format 1
// was JSON and always began with '{'), then the fields in a fixed order,
// strings and the dialog state as a uvarint length and their bytes, times
// as zigzag varints of Unix nanoseconds (0 for the zero time), counts as
// uvarints, the cost as 8 bytes. Version is left out; stores keep it beside
// the data. Decoding a 20-turn session takes a tenth of what
// encoding/json took for format 1 (68 µs against 7 µs), whose validity
// scan and reflection were most of it.
// Format 1, stored by earlier versions, still decodes.
const (
	formatJSON   = 1
	formatBinary = 2
)

// Encode appends the storage encoding of s, without its Version, to dst.
// It fails only when s.Dialog is not valid JSON.
func Encode(dst []byte, s *Session) ([]byte, error) {
	if len(s.Dialog) > 0 && !json.Valid(s.Dialog) {
		return dst, fmt.Errorf("session: encode %q: dialog state is not valid JSON", s.ID)
	}
	b := append(dst, formatBinary)
	b = wire.AppendString(b, s.ID)
	b = wire.AppendString(b, s.UserID)
	b = wire.AppendString(b, s.Channel)
	b = wire.AppendString(b, s.Tenant)
	b = binary.AppendVarint(b, unixNano(s.Created))
	b = binary.AppendVarint(b, unixNano(s.Updated))
	b = binary.AppendUvarint(b, uint64(len(s.Turns)))
	for _, t := range s.Turns {
		b = wire.AppendString(b, t.ID)
		b = binary.AppendVarint(b, unixNano(t.At))
		b = wire.AppendString(b, t.Text)
		b = binary.AppendUvarint(b, uint64(len(t.Replies)))
		for _, r := range t.Replies {
			b = wire.AppendString(b, r)
		}
		b = wire.AppendString(b, t.Intent)
		b = wire.AppendString(b, t.Route)
	}
	b = wire.AppendBytes(b, s.Dialog)
	if h := s.Handoff; h != nil {
		b = append(b, 1)
		b = wire.AppendString(b, h.Queue)
		b = wire.AppendString(b, h.Reason)
		b = binary.AppendVarint(b, unixNano(h.Since))
		b = wire.AppendString(b, h.Agent)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, int64(s.Usage.PromptTokens))
	b = binary.AppendVarint(b, int64(s.Usage.CompletionTokens))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.Usage.Cost))
	return b, nil
}

// Decode parses data written by Encode, in either format. The result shares
// no memory with data. Times come back in time.Local, empty slices as nil,
// and Version is 0 (the store sets it). A session encoded before tenants
// existed decodes with Tenant "". Channel, Tenant, Intent, Route and
// Handoff.Queue are interned: thousands of sessions in memory share one
// copy of each value.
func Decode(data []byte) (*Session, error) {
	if len(data) > 0 && data[0] == '{' {
		return decodeJSON(data)
	}
	d := wire.NewDecoder(data, errShort)
	if f := d.Byte(); f != formatBinary {
		if d.Err() != nil {
			return nil, fmt.Errorf("session: decode: %w", d.Err())
		}
		return nil, fmt.Errorf("session: decode: unknown format %d", f)
	}
	s := &Session{ID: d.String(), UserID: d.String(), Channel: intern(d.String()), Tenant: intern(d.String()),
		Created: fromUnixNano(d.Varint()), Updated: fromUnixNano(d.Varint())}
	// Each turn takes at least 6 bytes: a count past what is left is
	// corrupt, and must not size an allocation.
	if n := d.Count(6); n > 0 {
		s.Turns = make([]Turn, n)
		for i := range s.Turns {
			t := &s.Turns[i]
			t.ID, t.At, t.Text = d.String(), fromUnixNano(d.Varint()), d.String()
			if m := d.Count(1); m > 0 {
				t.Replies = make([]string, m)
				for j := range t.Replies {
					t.Replies[j] = d.String()
				}
			}
			t.Intent, t.Route = intern(d.String()), intern(d.String())
		}
	}
	if dialog := d.Bytes(); len(dialog) > 0 {
		s.Dialog = json.RawMessage(bytes.Clone(dialog))
	}
	switch h := d.Byte(); h {
	case 0:
	case 1:
		s.Handoff = &Handoff{Queue: intern(d.String()), Reason: d.String(), Since: fromUnixNano(d.Varint()), Agent: d.String()}
	default:
		d.Fail(fmt.Errorf("handoff flag %d", h))
	}
	s.Usage = Usage{PromptTokens: int(d.Varint()), CompletionTokens: int(d.Varint()), Cost: math.Float64frombits(d.Uint64())}
	if d.Len() > 0 {
		d.Fail(fmt.Errorf("%d bytes after the session", d.Len()))
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("session: decode %q: %w", s.ID, d.Err())
	}
	return s, nil
}

var errShort = errors.New("truncated")

// Format 1: JSON with short keys and times as Unix nanoseconds.
type wireSession struct {
	F       int             `json:"f"`
	ID      string          `json:"id"`
	User    string          `json:"u,omitempty"`
	Channel string          `json:"ch,omitempty"`
	Tenant  string          `json:"tn,omitempty"` // absent in sessions stored before tenants
	Created int64           `json:"c,omitempty"`
	Updated int64           `json:"up,omitempty"`
	Turns   []wireTurn      `json:"t,omitempty"`
	Dialog  json.RawMessage `json:"d,omitempty"`
	Handoff *wireHandoff    `json:"h,omitempty"`
	Usage   *wireUsage      `json:"us,omitempty"`
}

type wireUsage struct {
	Prompt     int     `json:"p,omitempty"`
	Completion int     `json:"c,omitempty"`
	Cost       float64 `json:"$,omitempty"`
}

type wireTurn struct {
	ID      string   `json:"id,omitempty"`
	At      int64    `json:"at,omitempty"`
	Text    string   `json:"x,omitempty"`
	Replies []string `json:"r,omitempty"`
	Intent  string   `json:"i,omitempty"`
	Route   string   `json:"ro,omitempty"`
}

type wireHandoff struct {
	Queue  string `json:"q,omitempty"`
	Reason string `json:"r,omitempty"`
	Since  int64  `json:"s,omitempty"`
	Agent  string `json:"a,omitempty"`
}

// decodeJSON parses format 1.
func decodeJSON(data []byte) (*Session, error) {
	var w wireSession
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("session: decode: %w", err)
	}
	if w.F != formatJSON {
		return nil, fmt.Errorf("session: decode %q: unknown format %d", w.ID, w.F)
	}
	s := &Session{
		ID:      w.ID,
		UserID:  w.User,
		Channel: intern(w.Channel),
		Tenant:  intern(w.Tenant),
		Created: fromUnixNano(w.Created),
		Updated: fromUnixNano(w.Updated),
		Dialog:  w.Dialog,
	}
	if len(w.Turns) > 0 {
		s.Turns = make([]Turn, len(w.Turns))
		for i, t := range w.Turns {
			if len(t.Replies) == 0 {
				t.Replies = nil // "r":[] decodes as empty, not nil
			}
			s.Turns[i] = Turn{ID: t.ID, At: fromUnixNano(t.At), Text: t.Text, Replies: t.Replies, Intent: intern(t.Intent), Route: intern(t.Route)}
		}
	}
	if h := w.Handoff; h != nil {
		s.Handoff = &Handoff{Queue: intern(h.Queue), Reason: h.Reason, Since: fromUnixNano(h.Since), Agent: h.Agent}
	}
	if u := w.Usage; u != nil {
		s.Usage = Usage{PromptTokens: u.Prompt, CompletionTokens: u.Completion, Cost: u.Cost}
	}
	return s, nil
}

// EncodeEntry returns the storage encoding of a queue entry, for stores
// that index the handoff queue apart from the sessions.
func EncodeEntry(e QueueEntry) ([]byte, error) {
	b, err := json.Marshal(wireEntry{ID: e.SessionID, Queue: e.Queue, Reason: e.Reason, Since: unixNano(e.Since), Agent: e.Agent})
	if err != nil {
		return nil, fmt.Errorf("session: encode entry %q: %w", e.SessionID, err)
	}
	return b, nil
}

// DecodeEntry parses data written by EncodeEntry.
func DecodeEntry(data []byte) (QueueEntry, error) {
	var w wireEntry
	if err := json.Unmarshal(data, &w); err != nil {
		return QueueEntry{}, fmt.Errorf("session: decode entry: %w", err)
	}
	return QueueEntry{SessionID: w.ID, Queue: w.Queue, Reason: w.Reason, Since: fromUnixNano(w.Since), Agent: w.Agent}, nil
}

type wireEntry struct {
	ID     string `json:"id"`
	Queue  string `json:"q,omitempty"`
	Reason string `json:"r,omitempty"`
	Since  int64  `json:"s,omitempty"`
	Agent  string `json:"a,omitempty"`
}

// unixNano maps the zero time to 0. Other times must lie within the years
// 1678 to 2262, which UnixNano can represent.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}
