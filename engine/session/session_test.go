package session_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/engine/session/sessiontest"
)

func TestAppend(t *testing.T) {
	tests := []struct {
		name   string
		have   int // turns before
		limit  int
		want   int // turns after one Append
		wantID string
	}{
		{"empty", 0, 20, 1, "new"},
		{"below limit", 5, 20, 6, "0"},
		{"at limit drops oldest", 20, 20, 20, "1"},
		{"over limit (config shrank) trims", 30, 20, 20, "11"},
		{"limit 1", 3, 1, 1, "new"},
		{"limit 0 means default", 25, 0, session.DefaultMaxTurns, "6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &session.Session{}
			for i := range tt.have {
				s.Turns = append(s.Turns, session.Turn{ID: fmt.Sprint(i)})
			}
			s.Append(session.Turn{ID: "new"}, tt.limit)
			if len(s.Turns) != tt.want || s.Turns[0].ID != tt.wantID || s.Turns[len(s.Turns)-1].ID != "new" {
				t.Fatalf("%d turns, first %q last %q; want %d, %q, \"new\"", len(s.Turns), s.Turns[0].ID, s.Turns[len(s.Turns)-1].ID, tt.want, tt.wantID)
			}
		})
	}
}

func TestAppendBounded(t *testing.T) {
	s := &session.Session{}
	var full *session.Turn
	for i := range 100 {
		s.Append(session.Turn{ID: fmt.Sprint(i), Text: "你好"}, 20)
		if cap(s.Turns) > 20 {
			t.Fatalf("after %d appends cap = %d, want <= 20", i+1, cap(s.Turns))
		}
		if i == 19 {
			full = &s.Turns[0]
		}
		if i > 19 && &s.Turns[0] != full {
			t.Fatalf("append %d reallocated a full session's turns", i+1)
		}
	}
	if s.Turns[0].ID != "80" || s.Turns[19].ID != "99" {
		t.Fatalf("turns %s..%s, want 80..99", s.Turns[0].ID, s.Turns[19].ID)
	}
	// Trimming clears what it drops, so old text can be collected.
	s.Turns = s.Turns[:10]
	s.Append(session.Turn{ID: "x"}, 5)
	for _, turn := range s.Turns[len(s.Turns):10] {
		if turn.ID != "" {
			t.Fatalf("dropped turn %q still referenced past len", turn.ID)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	s := sessiontest.Sample("s1", 20)
	s.Created = time.Date(2025, 6, 18, 20, 0, 0, 1, time.UTC)
	s.Updated = s.Created.Add(time.Hour)
	s.Handoff = &session.Handoff{Queue: "售后专员", Reason: "客户要求人工", Since: s.Updated, Agent: "小王"}
	s.Tenant = "shop-a"
	data, err := session.Encode(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != 2 {
		t.Errorf("encoding starts with %d, want format 2", data[0])
	}
	got, err := session.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Fatalf("round trip (-in +out):\n%s", diff)
	}
	for i := range data {
		data[i] = 'x' // Decode must have copied everything
	}
	if got.Turns[3].Text != s.Turns[3].Text || string(got.Dialog) != string(s.Dialog) {
		t.Fatal("decoded session aliases the input buffer")
	}

	// Encode appends.
	prefixed, err := session.Encode([]byte("HDR"), s)
	if err != nil || !strings.HasPrefix(string(prefixed), "HDR\x02") {
		t.Fatalf("Encode with a prefix = %.20q, %v", prefixed, err)
	}

	// Size against encoding the struct as it is (RFC 3339 times, long keys).
	plain, _ := json.Marshal(s)
	t.Logf("20-turn session: %d bytes encoded, %d with plain json.Marshal", len(data), len(plain))
}

// TestDecodeBeforeTenants: a session stored in format 1 (JSON) before
// tenants existed has no "tn" key; it decodes with Tenant "" and
// everything else intact.
func TestDecodeBeforeTenants(t *testing.T) {
	old := `{"f":1,"id":"s1","u":"u1","ch":"web","c":1750000000000000000,"t":[{"id":"t1","x":"我要退货","r":["好的"],"i":"refund","ro":"flow"}]}`
	got, err := session.Decode([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	want := &session.Session{ID: "s1", UserID: "u1", Channel: "web", Created: time.Unix(0, 1750000000000000000),
		Turns: []session.Turn{{ID: "t1", Text: "我要退货", Replies: []string{"好的"}, Intent: "refund", Route: "flow"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("old encoding (-want +got):\n%s", diff)
	}
	// Saved again, it is written in the current format and reads back
	// the same, with the tenant it is given.
	got.Tenant = "shop-a"
	data, err := session.Encode(nil, got)
	if err != nil {
		t.Fatal(err)
	}
	again, err := session.Decode(data)
	if err != nil || again.Tenant != "shop-a" {
		t.Fatalf("re-encoded: %+v, %v", again, err)
	}
	want.Tenant = "shop-a"
	if diff := cmp.Diff(want, again); diff != "" {
		t.Fatalf("re-encoded (-want +got):\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := session.Encode(nil, sessiontest.Sample("s", 3))
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{``, `{`, `{"f":2,"id":"x"}`, `{"id":"x"}`, `{"f":1,"t":"nope"}`, "\x03", "\x02", "\x02\x05ab",
		"\x02\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\x0f", string(good) + "x"}
	for n := 1; n < len(good); n += 7 {
		bad = append(bad, string(good[:n])) // truncated anywhere
	}
	plain, err := session.Encode(nil, &session.Session{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	plain[len(plain)-11] = 2 // the handoff flag: 0 or 1 (two usage varints and the cost follow)
	bad = append(bad, string(plain))
	for _, in := range bad {
		if _, err := session.Decode([]byte(in)); err == nil || !strings.HasPrefix(err.Error(), "session: decode") {
			t.Errorf("Decode(%q) = %v, want a session: decode error", in, err)
		}
	}
	if _, err := session.Encode(nil, &session.Session{ID: "x", Dialog: json.RawMessage(`{bad`)}); err == nil {
		t.Error("Encode with invalid Dialog JSON succeeded")
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := session.QueueEntry{SessionID: "s", Queue: "售后专员", Reason: "退款", Since: time.Unix(1750000000, 5), Agent: "小王"}
	data, err := session.EncodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := session.DecodeEntry(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Fatalf("round trip (-in +out):\n%s", diff)
	}
}

// FuzzRoundTrip: any text survives Encode and Decode, byte for byte
// (format 2 keeps even invalid UTF-8 as it is).
func FuzzRoundTrip(f *testing.F) {
	f.Add("我要退货", "好的<b>&</b>", "refund", "shop-a", int64(1750000000123456789))
	f.Add("", "", "", "", int64(0))
	f.Add("\x00\"\\\u2028", "\n", "a\tb", "\u202e", int64(-1))
	f.Fuzz(func(t *testing.T, text, reply, intent, tenant string, at int64) {
		s := &session.Session{ID: text, UserID: reply, Channel: intent, Tenant: tenant}
		s.Append(session.Turn{ID: intent, At: time.Unix(0, at), Text: text, Replies: []string{reply}, Intent: intent, Route: text}, 0)
		if at == 0 {
			s.Turns[0].At = time.Time{} // 0 encodes the zero time
		}
		data, err := session.Encode(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := session.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Fatalf("round trip of %s (-in +out):\n%s", data, diff)
		}
	})
}

// FuzzDecode: no input makes Decode panic or allocate past its size, and
// what decodes re-encodes to the same session.
func FuzzDecode(f *testing.F) {
	for _, n := range []int{0, 1, 20} {
		s := sessiontest.Sample("s", n)
		s.Handoff = &session.Handoff{Queue: "售后", Since: time.Unix(1, 2)}
		data, err := session.Encode(nil, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"f":1,"id":"s1","t":[{"id":"t1","x":"我要退货","r":["好的"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := session.Decode(data)
		if err != nil {
			return
		}
		again, err := session.Encode(nil, s)
		if err != nil {
			if len(s.Dialog) > 0 { // format 2 does not validate the dialog state on read
				return
			}
			t.Fatal(err)
		}
		back, err := session.Decode(again)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, back, cmpopts.EquateNaNs()); diff != "" {
			t.Fatalf("decode, encode, decode (-first +second):\n%s", diff)
		}
	})
}
