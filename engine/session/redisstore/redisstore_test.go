package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/engine/session/redistest"
	"github.com/kefu-chat/kefu/engine/session/sessiontest"
	"github.com/redis/go-redis/v9"
)

func newStore(t *testing.T, opts Options) *Store {
	t.Helper()
	st, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	addr := redistest.Start(t)
	var n atomic.Int64
	sessiontest.Run(t, func(t *testing.T, o sessiontest.Options) session.Store {
		// One server, a fresh key space per store.
		prefix := fmt.Sprintf("kefutest%d:", n.Add(1))
		return newStore(t, Options{Addr: addr, Prefix: prefix, IdleTTL: o.IdleTTL, Now: o.Now})
	})
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	st := newStore(t, Options{Addr: addr, IdleTTL: time.Hour})
	s := sessiontest.Sample("k1", 2)
	s.Handoff = &session.Handoff{Queue: "售后专员", Since: time.UnixMicro(1750000000123456)}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ttl, err := rdb.PTTL(ctx, "kefu:session:k1").Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("PTTL kefu:session:k1 = %v, %v; want about IdleTTL (1h)", ttl, err)
	}
	fields, err := rdb.HKeys(ctx, "kefu:session:k1").Result()
	slices.Sort(fields)
	if err != nil || strings.Join(fields, ",") != "d,q,u,v" {
		t.Fatalf("session hash fields = %v, %v; want d,q,u,v", fields, err)
	}
	score, err := rdb.ZScore(ctx, "kefu:queue", "k1").Result()
	if err != nil || score != 1750000000123456 {
		t.Fatalf("ZSCORE kefu:queue k1 = %v, %v; want Since in µs", score, err)
	}
	unlock, err := st.Lock(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if ttl, err := rdb.PTTL(ctx, "kefu:lock:k1").Result(); err != nil || ttl <= 29*time.Second || ttl > 30*time.Second {
		t.Fatalf("PTTL kefu:lock:k1 = %v, %v; want about LockTTL (30s)", ttl, err)
	}
	unlock()
	if n, _ := rdb.Exists(ctx, "kefu:lock:k1").Result(); n != 0 {
		t.Fatal("lock key left after unlock")
	}

	// Redis expiring the hash (as its TTL would) also drops the queue entry.
	rdb.Del(ctx, "kefu:session:k1")
	if q, err := st.Waiting(ctx); err != nil || len(q) != 0 {
		t.Fatalf("Waiting after the session key vanished = %v, %v; want empty", q, err)
	}
	if n, _ := rdb.ZCard(ctx, "kefu:queue").Result(); n != 0 {
		t.Fatalf("queue still has %d members after Waiting pruned it", n)
	}
}

// Two nodes (two Stores, each with its own local mutexes) share one
// session: only the Redis lock keeps their turns apart.
func TestTwoNodes(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	nodes := []*Store{newStore(t, Options{Addr: addr}), newStore(t, Options{Addr: addr})}
	const perNode, each = 10, 20
	var wg sync.WaitGroup
	for _, st := range nodes {
		for range perNode {
			wg.Go(func() {
				for range each {
					if err := sessiontest.Increment(ctx, st, "shared"); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	n, v, err := sessiontest.Counter(ctx, nodes[1], "shared")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(nodes) * perNode * each; n != want || v != uint64(want) {
		t.Fatalf("counter %d at version %d, want %d", n, v, want)
	}
}

// A node that dies holding a lock blocks its session for at most LockTTL,
// and its late unlock does not release the next holder's lock.
func TestLockTTL(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	var logs bytes.Buffer
	dead := newStore(t, Options{Addr: addr, LockTTL: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	live := newStore(t, Options{Addr: addr})

	staleUnlock, err := dead.Lock(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	ctx5, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	unlock, err := live.Lock(ctx5, "s")
	if err != nil {
		t.Fatalf("Lock after the holder's LockTTL: %v", err)
	}
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Fatalf("got a held lock after %v, before LockTTL (200ms)", d)
	}
	staleUnlock()
	if !strings.Contains(logs.String(), "expired before unlock") {
		t.Errorf("late unlock was not logged; logs:\n%s", logs.String())
	}
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if _, err := dead.Lock(short, "s"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock after a stale unlock = %v, want DeadlineExceeded (the live lock must survive)", err)
	}
	unlock()
}

// Redis going away gives errors that name the operation, session and
// cause; when it comes back, the same Store works again by itself.
func TestRedisRestart(t *testing.T) {
	ctx := context.Background()
	srv := redistest.NewServer(t)
	st := newStore(t, Options{Addr: srv.Addr})
	if err := st.Save(ctx, sessiontest.Sample("r", 1)); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	// Every call fails with a wrapped connection error, not ErrNotFound and
	// not a hang until the deadline. go-redis retries dialing for a second
	// or two first, so the calls run side by side.
	lockCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t0 := time.Now()
	calls := map[string]func() error{
		`redisstore: get "r": `:    func() error { _, err := st.Get(ctx, "r"); return err },
		`redisstore: save "r2": `:  func() error { return st.Save(ctx, sessiontest.Sample("r2", 1)) },
		`redisstore: delete "r": `: func() error { return st.Delete(ctx, "r") },
		`redisstore: lock "r": `:   func() error { _, err := st.Lock(lockCtx, "r"); return err },
		`redisstore: waiting: `:    func() error { _, err := st.Waiting(ctx); return err },
		`redisstore: ping: `:       func() error { return st.Ping(ctx) },
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for prefix, call := range calls {
		wg.Go(func() {
			err := call()
			mu.Lock()
			defer mu.Unlock()
			if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("with Redis down: %q call = %v, want a connection error", prefix, err)
				return
			}
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), srv.Addr) {
				t.Errorf("with Redis down: %q, want it to start %q and name %s", err, prefix, srv.Addr)
			}
			if strings.HasPrefix(prefix, "redisstore: get") {
				t.Logf("with Redis down: %v", err)
			}
		})
	}
	wg.Wait()
	t.Logf("calls with Redis down failed within %v", time.Since(t0).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}

	srv.Restart() // empty: the test server does not persist
	// go-redis stops dialing after repeated failures and probes once a
	// second, so the first commands may still fail.
	t0 = time.Now()
	for {
		_, err := st.Get(ctx, "r")
		if errors.Is(err, session.ErrNotFound) {
			break
		}
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("Get 5s after Redis came back = %v, want ErrNotFound", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("recovered %v after Redis came back", time.Since(t0).Round(time.Millisecond))
	if err := sessiontest.Increment(ctx, st, "r"); err != nil {
		t.Fatalf("turn after Redis came back: %v", err)
	}
	if _, err := st.Waiting(ctx); err != nil {
		t.Fatalf("Waiting after Redis came back (scripts must be reloaded): %v", err)
	}
}

func TestPasswordNotLeaked(t *testing.T) {
	ctx := context.Background()
	const secret, wrong = "s3cret-Passw0rd", "wr0ng-Passw0rd"
	addr := redistest.Start(t, "--requirepass", secret)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	bad := newStore(t, Options{Addr: addr, Password: wrong, LockTTL: time.Second, Logger: logger})
	var errs []error
	_, err := bad.Get(ctx, "x")
	errs = append(errs, err)
	errs = append(errs, bad.Save(ctx, sessiontest.Sample("x", 1)))
	_, err = bad.Lock(ctx, "x")
	errs = append(errs, err)
	errs = append(errs, bad.Ping(ctx))
	for _, err := range errs {
		if err == nil {
			t.Fatal("a command with a wrong password succeeded")
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), secret) {
			t.Fatalf("error leaks a password: %v", err)
		}
	}
	t.Logf("wrong password: %v", errs[0])

	good := newStore(t, Options{Addr: addr, Password: secret, Logger: logger})
	if err := sessiontest.Increment(ctx, good, "x"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), wrong) {
		t.Fatalf("logs leak a password:\n%s", logs.String())
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil || err.Error() != "redisstore: Addr is required" {
		t.Fatalf("New without Addr = %v", err)
	}
	if _, err := NewFromClient(nil, Options{}); err == nil {
		t.Fatal("NewFromClient(nil) succeeded")
	}
	// The caller's client survives Close.
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	st, err := NewFromClient(rdb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Close closed the caller's client: %v", err)
	}
}

// TestLockReleasedAfterOutage: an unlock that fails because Redis is down
// is retried once Redis is back, so a Redis restored from its append-only
// file does not hold the session for LockTTL.
func TestLockReleasedAfterOutage(t *testing.T) {
	srv := redistest.NewServer(t, "--appendonly", "yes", "--appendfsync", "always")
	st := newStore(t, Options{Addr: srv.Addr, LockTTL: 30 * time.Second})
	ctx := context.Background()
	unlock, err := st.Lock(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	unlock() // fails: Redis is down
	srv.Restart()
	ctx5, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t0 := time.Now()
	unlock, err = st.Lock(ctx5, "s")
	if err != nil {
		t.Fatalf("Lock after the outage: %v (the stale lock was not released)", err)
	}
	unlock()
	t.Logf("lock free %v after Redis came back", time.Since(t0).Round(time.Millisecond))
	// Close waits for background releases; none is left.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
