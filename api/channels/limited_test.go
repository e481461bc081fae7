package channels

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/api"
	"github.com/kefu-chat/kefu/engine"
)

// countTurner counts turns and, when gate is set, holds each turn until
// gate is closed.
type countTurner struct {
	n    atomic.Int32
	gate chan struct{}
}

func (c *countTurner) Turn(ctx context.Context, req engine.Request) (*engine.Reply, error) {
	c.n.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	return &engine.Reply{SessionID: req.SessionID}, nil
}

func refusal(t *testing.T, err error, code string) *api.Error {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) || e.Code != code || e.RetryAfter() <= 0 {
		t.Fatalf("err = %v, want %s with a retry delay", err, code)
	}
	return e
}

func TestLimitedSessionBudget(t *testing.T) {
	inner := &countTurner{}
	adm := api.NewAdmission(api.Limits{PerSession: 1})
	lim := Limited(inner, adm, "channel:test", false)
	req := engine.Request{SessionID: "s1", Tenant: "shop-a"}
	if _, err := lim.Turn(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	_, err := lim.Turn(context.Background(), req)
	refusal(t, err, api.CodeRateLimited)
	if n := inner.n.Load(); n != 1 {
		t.Fatalf("inner ran %d turns, want 1: a refused turn must not run", n)
	}
	// Another session, and the same id of another tenant, have budgets of
	// their own.
	for _, other := range []engine.Request{{SessionID: "s2", Tenant: "shop-a"}, {SessionID: "s1", Tenant: "shop-b"}} {
		if _, err := lim.Turn(context.Background(), other); err != nil {
			t.Fatalf("%+v: %v", other, err)
		}
	}
	// The API's key and a channel share the session's budget: the
	// channel spent it above.
	if _, err := adm.Admit("website", "shop-a", "s1"); err == nil {
		t.Fatal("the API was admitted on a session the channel had just used up")
	}
}

func TestLimitedWaits(t *testing.T) {
	inner := &countTurner{}
	lim := Limited(inner, api.NewAdmission(api.Limits{PerSession: 20}), "channel:test", true)
	req := engine.Request{SessionID: "s1"}
	start := time.Now()
	for range 21 { // the burst is 20; the 21st waits about 50 ms
		if _, err := lim.Turn(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("21 turns took %v; the last should have waited for its budget", d)
	}
	if n := inner.n.Load(); n != 21 {
		t.Fatalf("inner ran %d turns, want 21", n)
	}
	// A wait longer than the context allows gives the refusal back.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	for range 25 {
		if _, err := lim.Turn(ctx, req); err != nil {
			refusal(t, err, api.CodeRateLimited)
			return
		}
	}
	t.Fatal("no turn was refused once the context ran out")
}

func TestLimitedInFlight(t *testing.T) {
	inner := &countTurner{gate: make(chan struct{})}
	adm := api.NewAdmission(api.Limits{MaxConcurrent: 1})
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := Limited(inner, adm, "channel:test", false).Turn(context.Background(), engine.Request{SessionID: "a"}); err != nil {
			t.Error(err)
		}
	})
	for inner.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := Limited(inner, adm, "channel:test", false).Turn(context.Background(), engine.Request{SessionID: "b"})
	refusal(t, err, api.CodeOverloaded)

	// Waiting, the second turn runs once the first one ends.
	done := make(chan error, 1)
	go func() {
		_, err := Limited(inner, adm, "channel:test", true).Turn(context.Background(), engine.Request{SessionID: "b"})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(inner.gate)
	wg.Wait()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting turn never ran")
	}
}
