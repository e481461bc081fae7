package channels

import (
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kefu-chat/kefu/engine"
)

func TestDegrade(t *testing.T) {
	parts := []engine.Part{
		{Type: "text", Text: "您好"},
		{Type: "buttons", Text: "请选择"}, // a type a text channel cannot show
		{Type: "image", Text: ""},      // nothing to say: dropped
		{Type: "text", Text: "  "},
	}
	if diff := cmp.Diff([]string{"您好", "请选择"}, Degrade(parts)); diff != "" {
		t.Errorf("Degrade (-want +got):\n%s", diff)
	}
	if got := Degrade(nil); got == nil || len(got) != 0 {
		t.Errorf("Degrade(nil) = %#v, want empty non-nil", got)
	}
}

func TestSessionID(t *testing.T) {
	if got := SessionID(nil, "telegram", "7"); got != "telegram:7" {
		t.Errorf("default = %q", got)
	}
	ids := func(ch, u string) string {
		if u == "7" {
			return "customer-42"
		}
		return ""
	}
	if got := SessionID(ids, "telegram", "7"); got != "customer-42" {
		t.Errorf("mapped = %q", got)
	}
	if got := SessionID(ids, "telegram", "8"); got != "telegram:8" {
		t.Errorf("unmapped = %q", got)
	}
}

func TestSplit(t *testing.T) {
	if diff := cmp.Diff([]string{"你好", "世界", "!"}, Split("你好世界!", 2)); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]string{"ok"}, Split("ok", 10)); diff != "" {
		t.Error(diff)
	}
	long := strings.Repeat("字", 4097)
	if got := Split(long, 4096); len(got) != 2 || len([]rune(got[0])) != 4096 {
		t.Errorf("split of 4097 runes: %d pieces", len(got))
	}
}

func TestQueueOrderPerKey(t *testing.T) {
	q := NewQueue(4, 100)
	var mu sync.Mutex
	got := map[uint64][]int{}
	for i := range 50 {
		for key := range uint64(3) {
			if !q.Add(key, func() { mu.Lock(); got[key] = append(got[key], i); mu.Unlock() }) {
				t.Fatalf("Add(%d) refused", key)
			}
		}
	}
	q.Close()
	for key, seq := range got {
		for i, v := range seq {
			if v != i {
				t.Fatalf("key %d: job %d ran at position %d", key, v, i)
			}
		}
	}
	if q.Add(0, func() {}) {
		t.Error("Add after Close accepted a job")
	}
	q.Close() // twice is fine
}

func TestQueueFull(t *testing.T) {
	q := NewQueue(1, 1)
	block, started := make(chan struct{}), make(chan struct{})
	q.Add(0, func() { close(started); <-block })
	<-started
	if !q.Add(0, func() {}) {
		t.Fatal("one waiting job refused")
	}
	if q.Add(0, func() {}) {
		t.Error("second waiting job accepted past depth 1")
	}
	close(block)
	q.Close()
}
