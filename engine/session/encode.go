package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unique"
)

// format is the first field of every encoded session, so a later layout can
// still read this one.
const format = 1

// The storage encoding is JSON with short keys and times as Unix
// nanoseconds: readable with redis-cli, about a fifth smaller than
// json.Marshal(Session) for 20 short Chinese turns (most bytes are the
// text itself), and exact to the nanosecond. Version is left out; stores
// keep it beside the data.
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

// Encode appends the storage encoding of s, without its Version, to dst.
// It fails only when s.Dialog is not valid JSON.
func Encode(dst []byte, s *Session) ([]byte, error) {
	w := wireSession{
		F:       format,
		ID:      s.ID,
		User:    s.UserID,
		Channel: s.Channel,
		Tenant:  s.Tenant,
		Created: unixNano(s.Created),
		Updated: unixNano(s.Updated),
		Dialog:  s.Dialog,
	}
	if len(s.Turns) > 0 {
		w.Turns = make([]wireTurn, len(s.Turns))
		for i, t := range s.Turns {
			w.Turns[i] = wireTurn{ID: t.ID, At: unixNano(t.At), Text: t.Text, Replies: t.Replies, Intent: t.Intent, Route: t.Route}
		}
	}
	if h := s.Handoff; h != nil {
		w.Handoff = &wireHandoff{Queue: h.Queue, Reason: h.Reason, Since: unixNano(h.Since), Agent: h.Agent}
	}
	if u := s.Usage; u != (Usage{}) {
		w.Usage = &wireUsage{Prompt: u.PromptTokens, Completion: u.CompletionTokens, Cost: u.Cost}
	}
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false) // keep <, > and & as one byte each
	if err := enc.Encode(&w); err != nil {
		return dst, fmt.Errorf("session: encode %q: %w", s.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode parses data written by Encode. The result shares no memory with
// data. Times come back in time.Local, empty slices as nil, and Version is
// 0 (the store sets it). A session encoded before tenants existed decodes
// with Tenant "". Channel, Tenant, Intent, Route and Handoff.Queue are
// interned: thousands of sessions in memory share one copy of each value.
func Decode(data []byte) (*Session, error) {
	var w wireSession
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("session: decode: %w", err)
	}
	if w.F != format {
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
