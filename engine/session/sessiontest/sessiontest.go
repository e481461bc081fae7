package sessiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kefu-chat/kefu/engine/session"
)

// Options are what a store under test must be opened with.
type Options struct {
	IdleTTL time.Duration
	Now     func() time.Time
}

// Run runs the suite. open must return a new, empty store that honours o
// and is closed at t's cleanup; the suite may close it earlier, so Close
// must be idempotent.
func Run(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T, o Options) session.Store)
	}{
		{"GetMissing", testGetMissing},
		{"SaveGet", testSaveGet},
		{"TenantKept", testTenantKept},
		{"Version", testVersion},
		{"VersionRace", testVersionRace},
		{"AppendKeepsLastN", testAppend},
		{"Delete", testDelete},
		{"Queue", testQueue},
		{"Expiry", testExpiry},
		{"LockSerialises", testLockSerialises},
		{"LockContext", testLockContext},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// Clock is a settable clock for injecting into stores; safe for concurrent
// use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start is a fixed instant in Beijing time; stores must not care about the
// zone.
var start = time.Date(2025, 6, 18, 20, 0, 0, 123456789, time.FixedZone("CST", 8*3600))

func openDefault(t *testing.T, open func(t *testing.T, o Options) session.Store) (session.Store, *Clock) {
	c := NewClock(start)
	return open(t, Options{IdleTTL: 24 * time.Hour, Now: c.Now}), c
}

// Sample returns an unsaved session with every field but Handoff set and
// the given number of short Chinese turns.
func Sample(id string, turns int) *session.Session {
	s := &session.Session{
		ID:      id,
		UserID:  "u-" + id,
		Channel: "wechat",
		Dialog:  json.RawMessage(`{"flow":"refund","step":"ask_order","slots":{"order_id":"A1234"}}`),
	}
	for i := range turns {
		s.Append(session.Turn{
			ID:      fmt.Sprintf("%s-t%02d", id, i),
			At:      start.Add(time.Duration(i) * time.Minute),
			Text:    fmt.Sprintf("我要退货，订单号是A%04d<&>", i),
			Replies: []string{"好的，已为您查询到订单，请问退货原因是什么呢？我们会尽快为您处理。"},
			Intent:  "refund_request",
			Route:   "flow",
		}, 0)
	}
	return s
}

func testGetMissing(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	st, _ := openDefault(t, open)
	if _, err := st.Get(context.Background(), "nope"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func testSaveGet(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	st, clock := openDefault(t, open)
	s := Sample("s1", 3)
	s.Handoff = &session.Handoff{Queue: "售后专员", Reason: "客户要求人工", Since: start.Add(time.Minute), Agent: "小王"}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Version != 1 || !s.Created.Equal(clock.Now()) || !s.Updated.Equal(clock.Now()) {
		t.Fatalf("after first Save: Version %d Created %v Updated %v; want 1 and the store's clock %v", s.Version, s.Created, s.Updated, clock.Now())
	}
	got, err := st.Get(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Fatalf("Get after Save (-saved +got):\n%s", diff)
	}

	// A later Save keeps Created, moves Updated.
	clock.Advance(time.Minute)
	got.Turns[0].Text = "changed"
	if err := st.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(start) || !got.Updated.Equal(start.Add(time.Minute)) || got.Version != 2 {
		t.Fatalf("after second Save: Created %v Updated %v Version %d", got.Created, got.Updated, got.Version)
	}
	again, err := st.Get(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Fatalf("Get after second Save (-saved +got):\n%s", diff)
	}

	// A minimal session round-trips too (nil slices, nil Dialog).
	bare := &session.Session{ID: "bare"}
	if err := st.Save(ctx, bare); err != nil {
		t.Fatal(err)
	}
	gotMin, err := st.Get(ctx, "bare")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(bare, gotMin); diff != "" {
		t.Fatalf("bare session (-saved +got):\n%s", diff)
	}
}

// testTenantKept: a session's tenant survives Save and Get, and another
// Save of the read copy.
func testTenantKept(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	st, _ := openDefault(t, open)
	s := Sample("owned", 2)
	s.Tenant = "shop-a"
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, "owned")
	if err != nil || got.Tenant != "shop-a" {
		t.Fatalf("Get = %+v, %v; want Tenant shop-a", got, err)
	}
	got.UserID = "changed"
	if err := st.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, err = st.Get(ctx, "owned"); err != nil || got.Tenant != "shop-a" || got.UserID != "changed" {
		t.Fatalf("after a second Save: %+v, %v", got, err)
	}
}

func testVersion(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	st, _ := openDefault(t, open)
	if err := st.Save(ctx, Sample("v", 1)); err != nil {
		t.Fatal(err)
	}
	a, _ := st.Get(ctx, "v")
	b, _ := st.Get(ctx, "v")
	if err := st.Save(ctx, a); err != nil {
		t.Fatal(err)
	}
	b.Dialog = json.RawMessage(`{"stale":true}`)
	if err := st.Save(ctx, b); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save at a stale version = %v, want ErrConflict", err)
	}
	if b.Version != 1 {
		t.Fatalf("failed Save changed Version to %d, want 1", b.Version)
	}
	if err := st.Save(ctx, Sample("v", 1)); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save of a new session over an existing one = %v, want ErrConflict", err)
	}
	missing := Sample("never-saved", 1)
	missing.Version = 5
	if err := st.Save(ctx, missing); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save at version 5 of a missing session = %v, want ErrConflict", err)
	}
	if _, err := st.Get(ctx, "never-saved"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("failed Save created the session: Get = %v", err)
	}
	got, _ := st.Get(ctx, "v")
	if got.Version != 2 || string(got.Dialog) == `{"stale":true}` {
		t.Fatalf("stored: Version %d Dialog %s; want 2 and the first writer's dialog", got.Version, got.Dialog)
	}
}

// Without Lock, concurrent saves of the same version must let exactly one
// through: the version check and the write are atomic.
func testVersionRace(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	st, _ := openDefault(t, open)
	if err := st.Save(ctx, Sample("race", 1)); err != nil {
		t.Fatal(err)
	}
	const n = 16
	copies := make([]*session.Session, n)
	for i := range copies {
		s, err := st.Get(ctx, "race")
		if err != nil {
			t.Fatal(err)
		}
		copies[i] = s
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, s := range copies {
		wg.Go(func() { errs[i] = st.Save(ctx, s) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, session.ErrConflict):
			t.Errorf("concurrent Save: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent saves at one version succeeded, want 1", ok, n)
	}
}

func testAppend(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	st, _ := openDefault(t, open)
	s := &session.Session{ID: "long"}
	for i := range 25 {
		s.Append(session.Turn{ID: fmt.Sprint(i), Text: fmt.Sprint("第", i, "句")}, 20)
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		var err error
		if s, err = st.Get(ctx, "long"); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Turns) != 20 || s.Turns[0].ID != "5" || s.Turns[19].ID != "24" {
		t.Fatalf("after 25 turns: %d turns, first %q last %q; want 20, \"5\", \"24\"", len(s.Turns), s.Turns[0].ID, s.Turns[len(s.Turns)-1].ID)
	}
}

func testDelete(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	st, _ := openDefault(t, open)
	s := Sample("d", 2)
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "d"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, "d"); err != nil {
		t.Fatalf("Delete of a missing session = %v, want nil", err)
	}
	if err := st.Save(ctx, s); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save at version %d after Delete = %v, want ErrConflict", s.Version, err)
	}
	if err := st.Save(ctx, Sample("d", 1)); err != nil {
		t.Fatalf("Save of a new session after Delete = %v", err)
	}
}

func handoff(st session.Store, t *testing.T, id string, since time.Duration, queue string) *session.Session {
	t.Helper()
	s := Sample(id, 1)
	s.Handoff = &session.Handoff{Queue: queue, Reason: "reason " + id, Since: start.Add(since)}
	if err := st.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func wantQueue(t *testing.T, st session.Store, want ...session.QueueEntry) {
	t.Helper()
	got, err := st.Waiting(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		want = nil
	}
	if len(got) == 0 {
		got = nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Waiting (-want +got):\n%s", diff)
	}
}

func testQueue(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	st, _ := openDefault(t, open)
	wantQueue(t, st)
	a := handoff(st, t, "a", 3*time.Minute, "")
	b := handoff(st, t, "b", 1*time.Minute, "售后专员")
	c := handoff(st, t, "c", 2*time.Minute, "售前")
	if err := st.Save(ctx, Sample("plain", 1)); err != nil {
		t.Fatal(err)
	}
	entry := func(s *session.Session) session.QueueEntry {
		e, _ := s.Entry()
		return e
	}
	wantQueue(t, st, entry(b), entry(c), entry(a))

	c.Handoff.Agent = "小王"
	if err := st.Save(ctx, c); err != nil {
		t.Fatal(err)
	}
	wantQueue(t, st, entry(b), entry(c), entry(a))

	b.Handoff = nil // the agent handed the session back to the bot
	if err := st.Save(ctx, b); err != nil {
		t.Fatal(err)
	}
	wantQueue(t, st, entry(c), entry(a))

	if err := st.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	wantQueue(t, st, entry(c))

	// A failed save leaves the queue alone.
	stale := *c
	stale.Version--
	stale.Handoff = nil
	if err := st.Save(ctx, &stale); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("stale Save = %v, want ErrConflict", err)
	}
	wantQueue(t, st, entry(c))
}

func testExpiry(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	clock := NewClock(start)
	st := open(t, Options{IdleTTL: time.Hour, Now: clock.Now})
	s := Sample("idle", 1)
	s.Handoff = &session.Handoff{Since: start}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Minute)
	if _, err := st.Get(ctx, "idle"); err != nil {
		t.Fatalf("Get after 59m idle: %v", err)
	}
	if err := st.Save(ctx, s); err != nil { // refreshes the expiry
		t.Fatal(err)
	}
	clock.Advance(59 * time.Minute)
	if _, err := st.Get(ctx, "idle"); err != nil {
		t.Fatalf("Get 59m after a refreshing Save: %v", err)
	}
	if len(mustWaiting(t, st)) != 1 {
		t.Fatal("live handoff missing from Waiting")
	}
	clock.Advance(2 * time.Minute)
	if _, err := st.Get(ctx, "idle"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get after 61m idle = %v, want ErrNotFound", err)
	}
	if q := mustWaiting(t, st); len(q) != 0 {
		t.Fatalf("Waiting lists an expired session: %v", q)
	}
	if err := st.Save(ctx, s); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save at version %d of an expired session = %v, want ErrConflict", s.Version, err)
	}
	fresh := Sample("idle", 0)
	if err := st.Save(ctx, fresh); err != nil {
		t.Fatalf("Save of a new session over an expired one: %v", err)
	}
	if fresh.Version != 1 || !fresh.Created.Equal(clock.Now()) {
		t.Fatalf("new session over an expired one: Version %d Created %v", fresh.Version, fresh.Created)
	}
	if q := mustWaiting(t, st); len(q) != 0 {
		t.Fatalf("Waiting lists the expired session's handoff after a new Save without one: %v", q)
	}
}

func mustWaiting(t *testing.T, st session.Store) []session.QueueEntry {
	t.Helper()
	q, err := st.Waiting(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Increment runs one turn the engine's way: Lock, Get (or create), bump a
// counter kept in Dialog, Save, unlock. It is exported for stores' own
// multi-node tests.
func Increment(ctx context.Context, st session.Store, id string) error {
	unlock, err := st.Lock(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := st.Get(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		s = &session.Session{ID: id}
	} else if err != nil {
		return err
	}
	var d struct{ N int }
	if s.Dialog != nil {
		if err := json.Unmarshal(s.Dialog, &d); err != nil {
			return err
		}
	}
	d.N++
	s.Dialog, _ = json.Marshal(d)
	s.Append(session.Turn{ID: fmt.Sprint(d.N), Text: "加一"}, 0)
	return st.Save(ctx, s)
}

// Counter returns the counter Increment keeps in session id.
func Counter(ctx context.Context, st session.Store, id string) (n int, version uint64, err error) {
	s, err := st.Get(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	var d struct{ N int }
	err = json.Unmarshal(s.Dialog, &d)
	return d.N, s.Version, err
}

func testLockSerialises(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	st, _ := openDefault(t, open)
	const goroutines, each = 20, 50
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if err := Increment(ctx, st, "counter"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n, v, err := Counter(ctx, st, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if n != goroutines*each || v != goroutines*each {
		t.Fatalf("counter %d at version %d, want %d: turns overlapped", n, v, goroutines*each)
	}
}

func testLockContext(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	st, _ := openDefault(t, open)
	unlock, err := st.Lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := st.Lock(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held session = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("Lock returned %v after its deadline", d)
	}
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := st.Lock(canceled, "free"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a canceled ctx = %v, want Canceled", err)
	}

	// Another session is not blocked by k.
	ctx3, cancel3 := context.WithTimeout(context.Background(), time.Second)
	defer cancel3()
	unlockOther, err := st.Lock(ctx3, "other")
	if err != nil {
		t.Fatalf("Lock of another session while k is held: %v", err)
	}
	unlockOther()

	// A waiter gets the lock once it is released.
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		u, err := st.Lock(ctx, "k")
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	unlock()
	unlock() // idempotent: must not release someone else's lock
	if err := <-got; err != nil {
		t.Fatalf("waiter after unlock: %v", err)
	}
}

func testClosed(t *testing.T, open func(t *testing.T, o Options) session.Store) {
	ctx := context.Background()
	st, _ := openDefault(t, open)
	if err := st.Save(ctx, Sample("c", 1)); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "c"); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := st.Save(ctx, Sample("c2", 1)); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Save after Close = %v, want ErrClosed", err)
	}
	if err := st.Delete(ctx, "c"); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Delete after Close = %v, want ErrClosed", err)
	}
	if _, err := st.Lock(ctx, "c"); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Lock after Close = %v, want ErrClosed", err)
	}
	if _, err := st.Waiting(ctx); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Waiting after Close = %v, want ErrClosed", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}
