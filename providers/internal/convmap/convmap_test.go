package convmap

import (
	"fmt"
	"sync"
	"testing"
)

func TestMap(t *testing.T) {
	m := New[string](2)
	m.Put("a", "1")
	m.Put("b", "2")
	m.Get("a") // a is now the most recent
	m.Put("c", "3")
	if _, ok := m.Get("b"); ok {
		t.Error("b should have been evicted first")
	}
	if id, ok := m.Get("a"); !ok || id != "1" {
		t.Errorf("a = %q, %v", id, ok)
	}
	m.Forget("a", "old") // a newer id survives
	if _, ok := m.Get("a"); !ok {
		t.Error("Forget with a stale id dropped the entry")
	}
	m.Forget("a", "1")
	if _, ok := m.Get("a"); ok {
		t.Error("Forget did not drop the entry")
	}
	m.Clear()
	if _, ok := m.Get("c"); ok {
		t.Error("Clear kept c")
	}
}

func TestMapConcurrent(t *testing.T) {
	m := New[int](16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := (g*1000 + i) % 40
				m.Put(k, fmt.Sprint(i))
				m.Get(k)
				m.Forget(k, "x")
			}
		}()
	}
	wg.Wait()
	if n := len(m.items); n > 16 || m.order.Len() != n {
		t.Fatalf("%d items, %d in order; want at most 16, equal", n, m.order.Len())
	}
}
