package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/engine/session/internal/keylock"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// IdleTTL is how long a session lives without a Save (default 24h).
	IdleTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives sweeper errors and counts (default: discard).
	Logger *slog.Logger
	// NoSync skips the fsync after each commit. Writes still reach the
	// operating system before Save returns, so a crash of kefu itself
	// (kill -9) loses nothing; a power cut or kernel crash may lose the
	// last writes, and the file stays consistent.
	NoSync bool
}

// Store is a session.Store in one bbolt file. It is safe for concurrent
// use by one process; bbolt's file lock keeps other processes out.
type Store struct {
	db     *bolt.DB
	path   string
	ttl    time.Duration
	now    func() time.Time
	log    *slog.Logger
	locks  *keylock.Map
	closed atomic.Bool
	// writing counts Save and Delete calls in flight; see update.
	writing atomic.Int32

	stop      chan struct{}
	sweeping  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ session.Store = (*Store)(nil)

// Buckets. sessions: id -> header + session.Encode. idle: Updated (8 bytes,
// big-endian Unix ns) + id -> nothing, in expiry order for the sweeper.
// queue: id -> session.EncodeEntry, for sessions with a Handoff.
var (
	bucketSessions = []byte("sessions")
	bucketIdle     = []byte("idle")
	bucketQueue    = []byte("queue")
)

// A stored session starts with a fixed header so that Save and the sweeper
// need not decode JSON: format (1 byte), Version, Updated (Unix ns), both
// 8 bytes big-endian.
const (
	headerFormat = 1
	headerLen    = 17
)

// sweepBatch bounds how many sessions one sweeper transaction deletes, so
// saves are never held up for long.
const sweepBatch = 1000

// Open opens or creates the store file at path and starts the expiry
// sweeper. It waits at most a second for the file lock, so a second kefu
// on the same file fails instead of hanging.
func Open(path string, opts Options) (*Store, error) {
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %q: file is locked (is another kefu using it?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %q: %w", path, err)
	}
	db.NoSync = opts.NoSync
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketSessions, bucketIdle, bucketQueue} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %q: %w", path, err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond // bbolt's 10ms default is a long wait for a turn
	st := &Store{
		db:    db,
		path:  path,
		ttl:   opts.IdleTTL,
		now:   opts.Now,
		log:   opts.Logger.With("store", "boltstore"),
		locks: keylock.New(),
		stop:  make(chan struct{}),
	}
	st.sweeping.Add(1)
	go st.sweeper(max(min(st.ttl/10, time.Minute), time.Millisecond))
	return st, nil
}

// Close stops the sweeper and closes the file. It is idempotent.
func (st *Store) Close() error {
	st.closeOnce.Do(func() {
		st.closed.Store(true)
		close(st.stop)
		st.sweeping.Wait()
		st.locks.Close()
		if err := st.db.Close(); err != nil {
			st.closeErr = fmt.Errorf("boltstore: close %q: %w", st.path, err)
		}
	})
	return st.closeErr
}

// Get returns the session, or session.ErrNotFound when it is missing or
// idle for IdleTTL or longer.
func (st *Store) Get(ctx context.Context, id string) (*session.Session, error) {
	var s *session.Session
	err := st.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get([]byte(id))
		if v == nil {
			return session.ErrNotFound
		}
		version, updated, err := parseHeader(v)
		if err != nil {
			return err
		}
		if st.expired(updated, st.now()) {
			return session.ErrNotFound
		}
		// Decode copies everything out of v, which is only valid inside tx.
		if s, err = session.Decode(v[headerLen:]); err != nil {
			return err
		}
		s.Version = version
		return nil
	})
	if err != nil {
		return nil, st.wrap("get", id, err)
	}
	return s, nil
}

// Save implements session.Store. An expired session counts as missing:
// only Version 0 may replace it. The write is fsynced before Save returns.
func (st *Store) Save(ctx context.Context, s *session.Session) error {
	now := st.now()
	saved := *s
	if saved.Created.IsZero() {
		saved.Created = now
	}
	saved.Updated = now
	data := make([]byte, headerLen, 512)
	data[0] = headerFormat
	binary.BigEndian.PutUint64(data[1:], s.Version+1)
	binary.BigEndian.PutUint64(data[9:], uint64(now.UnixNano()))
	data, err := session.Encode(data, &saved)
	if err != nil {
		return st.wrap("save", s.ID, err)
	}
	var entry []byte
	if e, ok := saved.Entry(); ok {
		if entry, err = session.EncodeEntry(e); err != nil {
			return st.wrap("save", s.ID, err)
		}
	}
	id := []byte(s.ID)
	err = st.update(ctx, func(tx *bolt.Tx) error {
		sessions, idle, queue := tx.Bucket(bucketSessions), tx.Bucket(bucketIdle), tx.Bucket(bucketQueue)
		var stored uint64
		if old := sessions.Get(id); old != nil {
			version, updated, err := parseHeader(old)
			if err != nil {
				return err
			}
			if !st.expired(updated, now) {
				stored = version
			}
			if err := idle.Delete(idleKey(updated, id)); err != nil {
				return err
			}
		}
		if stored != s.Version {
			return session.ErrConflict // rolls back the idle delete
		}
		if err := sessions.Put(id, data); err != nil {
			return err
		}
		if err := idle.Put(idleKey(now.UnixNano(), id), nil); err != nil {
			return err
		}
		if entry != nil {
			return queue.Put(id, entry)
		}
		return queue.Delete(id)
	})
	if err != nil {
		return st.wrap("save", s.ID, err)
	}
	s.Version++
	s.Created, s.Updated = saved.Created, saved.Updated
	return nil
}

// Delete implements session.Store.
func (st *Store) Delete(ctx context.Context, id string) error {
	err := st.update(ctx, func(tx *bolt.Tx) error {
		return deleteSession(tx, []byte(id))
	})
	return st.wrap("delete", id, err)
}

func deleteSession(tx *bolt.Tx, id []byte) error {
	sessions := tx.Bucket(bucketSessions)
	if old := sessions.Get(id); old != nil {
		_, updated, err := parseHeader(old)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketIdle).Delete(idleKey(updated, id)); err != nil {
			return err
		}
		if err := sessions.Delete(id); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketQueue).Delete(id)
}

// Lock implements session.Store with an in-process mutex per session.
func (st *Store) Lock(ctx context.Context, id string) (func(), error) {
	if st.closed.Load() {
		return nil, st.wrap("lock", id, session.ErrClosed)
	}
	unlock, err := st.locks.Lock(ctx, id)
	if errors.Is(err, keylock.ErrClosed) {
		err = session.ErrClosed
	}
	if err != nil {
		return nil, st.wrap("lock", id, err)
	}
	return unlock, nil
}

// Waiting implements session.Store.
func (st *Store) Waiting(ctx context.Context) ([]session.QueueEntry, error) {
	var out []session.QueueEntry
	err := st.view(ctx, func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		now := st.now()
		return tx.Bucket(bucketQueue).ForEach(func(id, v []byte) error {
			s := sessions.Get(id)
			if s == nil {
				return nil
			}
			_, updated, err := parseHeader(s)
			if err != nil {
				return err
			}
			if st.expired(updated, now) {
				return nil
			}
			e, err := session.DecodeEntry(v)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, st.wrap("waiting", "", err)
	}
	slices.SortFunc(out, func(a, b session.QueueEntry) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.SessionID, b.SessionID))
	})
	return out, nil
}

func (st *Store) sweeper(every time.Duration) {
	defer st.sweeping.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-t.C:
			n, err := st.sweep()
			if err != nil && !st.closed.Load() {
				st.log.Warn("sweeping expired sessions", "err", err, "deleted", n)
			} else if n > 0 {
				st.log.Debug("swept expired sessions", "deleted", n)
			}
		}
	}
}

// sweep deletes expired sessions, sweepBatch per transaction, and returns
// how many it deleted.
func (st *Store) sweep() (int, error) {
	total := 0
	for {
		select {
		case <-st.stop:
			return total, nil
		default:
		}
		n := 0
		cutoff := st.now().Add(-st.ttl).UnixNano()
		err := st.db.Update(func(tx *bolt.Tx) error {
			var keys [][]byte
			c := tx.Bucket(bucketIdle).Cursor()
			for k, _ := c.First(); k != nil && len(keys) < sweepBatch; k, _ = c.Next() {
				if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > cutoff {
					break
				}
				keys = append(keys, bytes.Clone(k)) // k is invalid once we delete
			}
			for _, k := range keys {
				// Delete the session only if the index entry is its current
				// one; a stray entry just goes.
				if v := tx.Bucket(bucketSessions).Get(k[8:]); v != nil {
					if _, updated, err := parseHeader(v); err == nil && updated == int64(binary.BigEndian.Uint64(k)) {
						if err := deleteSession(tx, k[8:]); err != nil {
							return err
						}
					}
				}
				if err := tx.Bucket(bucketIdle).Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}

func (st *Store) expired(updated int64, now time.Time) bool {
	return !now.Before(time.Unix(0, updated).Add(st.ttl))
}

func (st *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if st.closed.Load() {
		return session.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return st.db.View(fn)
}

// update runs fn in a write transaction, committed and fsynced before it
// returns. A lone write uses its own transaction (no added latency); writes
// that find another in flight join a bbolt batch, so many sessions saving
// at once share fsyncs (several times the throughput with 32 writers). Batch may run
// fn more than once, so fn must only touch tx. ctx is checked only before
// starting: once bbolt has the write, the caller learns the outcome.
func (st *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if st.closed.Load() {
		return session.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n := st.writing.Add(1)
	defer st.writing.Add(-1)
	if n > 1 {
		return st.db.Batch(fn)
	}
	return st.db.Update(fn)
}

func (st *Store) wrap(op, id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		err = session.ErrClosed
	}
	if id == "" {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return fmt.Errorf("boltstore: %s %q: %w", op, id, err)
}

func parseHeader(v []byte) (version uint64, updated int64, err error) {
	if len(v) < headerLen || v[0] != headerFormat {
		return 0, 0, errors.New("corrupt session record")
	}
	return binary.BigEndian.Uint64(v[1:]), int64(binary.BigEndian.Uint64(v[9:])), nil
}

func idleKey(updated int64, id []byte) []byte {
	k := make([]byte, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(updated))
	copy(k[8:], id)
	return k
}
