package boltstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/engine/session/sessiontest"
	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, o sessiontest.Options) session.Store {
	st, err := Open(filepath.Join(t.TempDir(), "sessions.db"), Options{IdleTTL: o.IdleTTL, Now: o.Now})
	if err != nil {
		t.Fatal(err)
	}
	// Skip fsync: LockSerialises makes 1000 serial commits, which take 10s
	// or more on a busy disk. Semantics are the same; TestCrash and
	// TestReopen check durability with fsync on.
	st.db.NoSync = true
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	sessiontest.Run(t, open)
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var saved []*session.Session
	for i := range 50 {
		s := sessiontest.Sample(fmt.Sprint("s", i), i%25)
		if i%10 == 0 {
			s.Handoff = &session.Handoff{Queue: "售后专员", Since: time.Unix(1750000000+int64(i), 0)}
		}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		saved = append(saved, s)
	}
	queue, err := st.Waiting(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, s := range saved {
		got, err := st.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Fatalf("%s after reopen (-saved +got):\n%s", s.ID, diff)
		}
	}
	queue2, err := st.Waiting(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(queue) != 5 {
		t.Fatalf("queue has %d entries, want 5", len(queue))
	}
	if diff := cmp.Diff(queue, queue2); diff != "" {
		t.Fatalf("queue after reopen (-before +after):\n%s", diff)
	}
}

func TestLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// bbolt uses flock, which is per open file description, so a second
	// Open in the same process contends like another process would.
	_, err = Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open = %v, want a file-locked error", err)
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	clock := sessiontest.NewClock(time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC))
	st, err := Open(filepath.Join(t.TempDir(), "sessions.db"), Options{IdleTTL: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// fsync per Save would make the setup take seconds.
	st.db.NoSync = true
	const old = sweepBatch*2 + 17 // more than one batch
	for i := range old {
		s := &session.Session{ID: fmt.Sprint("old", i)}
		if i%100 == 0 {
			s.Handoff = &session.Handoff{Since: clock.Now()}
		}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(30 * time.Minute)
	if err := st.Save(ctx, &session.Session{ID: "young", Handoff: &session.Handoff{}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(31 * time.Minute)
	st.db.NoSync = false

	n, err := st.sweep()
	if err != nil {
		t.Fatal(err)
	}
	if n != old {
		t.Fatalf("sweep deleted %d, want %d", n, old)
	}
	counts := bucketCounts(t, st)
	if want := map[string]int{"sessions": 1, "idle": 1, "queue": 1}; !cmp.Equal(counts, want) {
		t.Fatalf("buckets after sweep = %v, want %v", counts, want)
	}
	if _, err := st.Get(ctx, "young"); err != nil {
		t.Fatalf("young session swept: %v", err)
	}
	if n, _ := st.sweep(); n != 0 {
		t.Fatalf("second sweep deleted %d, want 0", n)
	}
}

// The sweeper goroutine runs on its own: with IdleTTL 200ms it ticks every
// 20ms.
func TestSweeperRuns(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "sessions.db"), Options{IdleTTL: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Save(context.Background(), &session.Session{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for bucketCounts(t, st)["sessions"] != 0 {
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not delete an expired session within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLockNoLeak(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "sessions.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 1000 {
		unlock, err := st.Lock(context.Background(), fmt.Sprint("s", i))
		if err != nil {
			t.Fatal(err)
		}
		unlock()
	}
	if n := st.locks.Len(); n != 0 {
		t.Fatalf("%d per-session mutexes left after every unlock", n)
	}
}

func bucketCounts(t *testing.T, st *Store) map[string]int {
	t.Helper()
	counts := map[string]int{}
	err := st.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketSessions, bucketIdle, bucketQueue} {
			counts[string(name)] = tx.Bucket(name).Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// crashEnv makes the test binary a child that saves sessions into the file
// it names and prints "ok <id>" after each acknowledged Save.
const crashEnv = "KEFU_BOLTSTORE_CRASH_CHILD"

func TestCrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "sessions.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ok ")
		if !ok {
			continue // the test framework's own output
		}
		acked = append(acked, id)
		if len(acked) == 300 && !killed {
			// Saves are in flight in four goroutines: this lands mid-write.
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before it was killed: %v", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}

	st, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer st.Close()
	for _, id := range acked {
		s, err := st.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("acknowledged session lost after SIGKILL: %v", err)
		}
		if len(s.Turns) != 3 || s.Version != 1 {
			t.Fatalf("%s after SIGKILL: %d turns, version %d", id, len(s.Turns), s.Version)
		}
	}
	t.Logf("%d acknowledged sessions survived SIGKILL", len(acked))
}

func crashChild(path string) {
	st, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				if err := st.Save(context.Background(), sessiontest.Sample(id, 3)); err != nil {
					if !errors.Is(err, session.ErrClosed) {
						fmt.Fprintln(os.Stderr, err)
					}
					return
				}
				mu.Lock()
				fmt.Printf("ok %s\n", id) // os.Stdout is unbuffered: printed means acknowledged
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(3) // not reached: the parent kills us
}
