package keylock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestSerialises(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	counter := 0
	for g := range 16 {
		wg.Go(func() {
			key := "a"
			if g%2 == 1 {
				key = "b" // a second key must not share the first key's mutex
			}
			for range 200 {
				unlock, err := m.Lock(context.Background(), key)
				if err != nil {
					t.Error(err)
					return
				}
				if key == "a" {
					counter++
				}
				unlock()
			}
		})
	}
	wg.Wait()
	if counter != 8*200 {
		t.Errorf("counter = %d, want %d", counter, 8*200)
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len after all unlocks = %d, want 0 (leaked mutexes)", n)
	}
}

func TestContext(t *testing.T) {
	m := New()
	unlock, err := m.Lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := m.Lock(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock on a held key = %v, want DeadlineExceeded", err)
	}
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := m.Lock(canceled, "free"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a canceled ctx = %v, want Canceled", err)
	}
	unlock()
	unlock() // idempotent
	if n := m.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
	unlock2, err := m.Lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

func TestClose(t *testing.T) {
	m := New()
	unlock, _ := m.Lock(context.Background(), "k")
	errc := make(chan error, 1)
	go func() {
		_, err := m.Lock(context.Background(), "k")
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	m.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting Lock after Close = %v, want ErrClosed", err)
	}
	unlock()
	if n := m.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}
