package redisstore

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/engine/session/internal/keylock"
	"github.com/redis/go-redis/v9"
)

// Options configure a Store. Only Addr is required (New only).
type Options struct {
	Addr     string // host:port
	Username string
	Password string // never logged, never in an error
	DB       int
	// Prefix starts every key (default "kefu:"). For Redis Cluster, put a
	// hash tag in it ("{kefu}:") so the Lua scripts find all keys in one
	// slot.
	Prefix string
	// IdleTTL is how long a session lives without a Save (default 24h).
	IdleTTL time.Duration
	// LockTTL bounds how long Lock holds a session if the holder never
	// unlocks, e.g. because its process died (default 30s). A turn must
	// finish within it; past it, Save's version check is the safety net.
	LockTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives unlock failures (default: discard).
	Logger *slog.Logger
}

// Store is a session.Store shared by every kefu node that points at the
// same Redis and Prefix. It is safe for concurrent use.
type Store struct {
	rdb      redis.UniversalClient
	owned    bool // rdb was made by New, so Close closes it
	prefix   string
	queueKey string
	ttl      time.Duration
	lockTTL  time.Duration
	now      func() time.Time
	log      *slog.Logger
	locks    *keylock.Map
	closed   atomic.Bool
	once     sync.Once
	closeErr error
	stop     chan struct{}  // closed by Close
	bg       sync.WaitGroup // background lock releases
}

var _ session.Store = (*Store)(nil)

// New connects to the Redis at opts.Addr. It does not dial: the first
// command does, so kefu can start while Redis is still coming up; use Ping
// to check readiness.
func New(opts Options) (*Store, error) {
	if opts.Addr == "" {
		return nil, errors.New("redisstore: Addr is required")
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:     opts.Addr,
		Username: opts.Username,
		Password: opts.Password,
		DB:       opts.DB,
		// A turn must fail well within its request deadline when Redis is
		// down or unreachable: go-redis's defaults (5s dials, 3 retries)
		// could wait past it.
		DialTimeout:  time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
		MaxRetries:   2,
	})
	st, err := NewFromClient(rdb, opts)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	st.owned = true
	return st, nil
}

// NewFromClient uses an existing client (a Sentinel or Cluster client,
// say); opts.Addr, Username, Password and DB are ignored. The caller keeps
// ownership: Close does not close rdb.
func NewFromClient(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if opts.Prefix == "" {
		opts.Prefix = "kefu:"
	}
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = 24 * time.Hour
	}
	if opts.LockTTL <= 0 {
		opts.LockTTL = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{
		rdb:      rdb,
		prefix:   opts.Prefix,
		queueKey: opts.Prefix + "queue",
		ttl:      opts.IdleTTL,
		lockTTL:  opts.LockTTL,
		now:      opts.Now,
		log:      opts.Logger.With("store", "redisstore"),
		locks:    keylock.New(),
		stop:     make(chan struct{}),
	}, nil
}

// Keys: a session is a hash {v: version, u: Updated in Unix ms, d:
// session.Encode, q: session.EncodeEntry while handed off} that expires
// IdleTTL after its last Save. The queue is a sorted set of session ids
// scored by Handoff.Since in Unix µs.
func (st *Store) sessionKey(id string) string { return st.prefix + "session:" + id }
func (st *Store) lockKey(id string) string    { return st.prefix + "lock:" + id }

// Close closes the client if New made it. It is idempotent.
func (st *Store) Close() error {
	st.once.Do(func() {
		st.closed.Store(true)
		close(st.stop)
		st.bg.Wait()
		st.locks.Close()
		if st.owned {
			if err := st.rdb.Close(); err != nil {
				st.closeErr = fmt.Errorf("redisstore: close: %w", err)
			}
		}
	})
	return st.closeErr
}

// Ping checks that Redis answers, for readiness probes.
func (st *Store) Ping(ctx context.Context) error {
	if st.closed.Load() {
		return wrap("ping", "", session.ErrClosed)
	}
	return wrap("ping", "", st.rdb.Ping(ctx).Err())
}

// Get returns the session, or session.ErrNotFound when it is missing or
// idle for IdleTTL or longer by the store's clock (Redis drops it soon
// after by its own).
func (st *Store) Get(ctx context.Context, id string) (*session.Session, error) {
	if st.closed.Load() {
		return nil, wrap("get", id, session.ErrClosed)
	}
	vals, err := st.rdb.HMGet(ctx, st.sessionKey(id), "v", "u", "d").Result()
	if err != nil {
		return nil, wrap("get", id, err)
	}
	v, _ := vals[0].(string)
	u, _ := vals[1].(string)
	d, _ := vals[2].(string)
	if v == "" {
		return nil, wrap("get", id, session.ErrNotFound)
	}
	version, err1 := strconv.ParseUint(v, 10, 64)
	updated, err2 := strconv.ParseInt(u, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return nil, wrap("get", id, fmt.Errorf("corrupt session record: %w", err))
	}
	if updated <= st.cutoff(st.now()) {
		return nil, wrap("get", id, session.ErrNotFound)
	}
	s, err := session.Decode([]byte(d))
	if err != nil {
		return nil, wrap("get", id, err)
	}
	s.Version = version
	return s, nil
}

// saveScript checks the version and writes the session and its queue
// entry in one step. A session older than the cutoff counts as missing.
//
// KEYS: session, queue. ARGV: expected version, new version, data,
// updated ms, cutoff ms, IdleTTL ms, id, queue entry ("" = none), score.
var saveScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 'u')
local v = cur[1]
if v and (tonumber(cur[2]) or 0) <= tonumber(ARGV[5]) then v = false end
if (v or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'u', ARGV[4], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if ARGV[8] ~= '' then
	redis.call('HSET', KEYS[1], 'q', ARGV[8])
	redis.call('ZADD', KEYS[2], ARGV[9], ARGV[7])
else
	redis.call('HDEL', KEYS[1], 'q')
	redis.call('ZREM', KEYS[2], ARGV[7])
end
return 1
`)

// Save implements session.Store. An expired session counts as missing:
// only Version 0 may replace it.
func (st *Store) Save(ctx context.Context, s *session.Session) error {
	if st.closed.Load() {
		return wrap("save", s.ID, session.ErrClosed)
	}
	now := st.now()
	saved := *s
	if saved.Created.IsZero() {
		saved.Created = now
	}
	saved.Updated = now
	data, err := session.Encode(nil, &saved)
	if err != nil {
		return wrap("save", s.ID, err)
	}
	var entry []byte
	var score int64
	if e, ok := saved.Entry(); ok {
		if entry, err = session.EncodeEntry(e); err != nil {
			return wrap("save", s.ID, err)
		}
		if !e.Since.IsZero() {
			score = e.Since.UnixMicro()
		}
	}
	ok, err := saveScript.Run(ctx, st.rdb, []string{st.sessionKey(s.ID), st.queueKey},
		s.Version, s.Version+1, data, now.UnixMilli(), st.cutoff(now), st.ttl.Milliseconds(),
		s.ID, entry, score).Int()
	if err != nil {
		return wrap("save", s.ID, err)
	}
	if ok != 1 {
		return wrap("save", s.ID, session.ErrConflict)
	}
	s.Version++
	s.Created, s.Updated = saved.Created, saved.Updated
	return nil
}

var deleteScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// Delete implements session.Store.
func (st *Store) Delete(ctx context.Context, id string) error {
	if st.closed.Load() {
		return wrap("delete", id, session.ErrClosed)
	}
	err := deleteScript.Run(ctx, st.rdb, []string{st.sessionKey(id), st.queueKey}, id).Err()
	return wrap("delete", id, err)
}

// waitingScript returns the queue entries of live sessions, oldest first,
// and drops ids whose session Redis has expired. It reads session keys by
// name, so a Cluster needs a hash tag in Prefix.
//
// KEYS: queue. ARGV: session key prefix, cutoff ms.
var waitingScript = redis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, id in ipairs(ids) do
	local f = redis.call('HMGET', ARGV[1] .. id, 'u', 'q')
	if not f[2] then
		redis.call('ZREM', KEYS[1], id)
	elseif (tonumber(f[1]) or 0) > tonumber(ARGV[2]) then
		out[#out + 1] = f[2]
	end
end
return out
`)

// Waiting implements session.Store.
func (st *Store) Waiting(ctx context.Context) ([]session.QueueEntry, error) {
	if st.closed.Load() {
		return nil, wrap("waiting", "", session.ErrClosed)
	}
	raw, err := waitingScript.Run(ctx, st.rdb, []string{st.queueKey}, st.prefix+"session:", st.cutoff(st.now())).StringSlice()
	if err != nil {
		return nil, wrap("waiting", "", err)
	}
	out := make([]session.QueueEntry, 0, len(raw))
	for _, r := range raw {
		e, err := session.DecodeEntry([]byte(r))
		if err != nil {
			return nil, wrap("waiting", "", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Lock implements session.Store: first a per-process mutex, so goroutines
// of one node queue locally, then SET NX PX LockTTL in Redis, retried
// with backoff until ctx is done. A Redis error ends the wait at once.
// unlock deletes the Redis key only if it still holds this Lock's token.
func (st *Store) Lock(ctx context.Context, id string) (func(), error) {
	if st.closed.Load() {
		return nil, wrap("lock", id, session.ErrClosed)
	}
	localUnlock, err := st.locks.Lock(ctx, id)
	if errors.Is(err, keylock.ErrClosed) {
		err = session.ErrClosed
	}
	if err != nil {
		return nil, wrap("lock", id, err)
	}
	token := crand.Text()
	key := st.lockKey(id)
	backoff := time.Millisecond
	for {
		ok, err := st.rdb.SetNX(ctx, key, token, st.lockTTL).Result()
		if err != nil {
			// Redis may have taken the lock and died before answering; a
			// Redis restored from its append-only file would then hold it
			// for LockTTL. The token is ours alone, so releasing is safe.
			st.bg.Add(1)
			go st.release(key, token, time.Now().Add(st.lockTTL))
			localUnlock()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, wrap("lock", id, err)
		}
		if ok {
			break
		}
		// Full jitter keeps nodes from retrying in step.
		t := time.NewTimer(time.Duration(rand.Int64N(int64(backoff))) + time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			localUnlock()
			return nil, wrap("lock", id, ctx.Err())
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
	acquired := time.Now()
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		defer localUnlock()
		// The turn's ctx may be gone; releasing must not depend on it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := unlockScript.Run(ctx, st.rdb, []string{key}, token).Int()
		switch {
		case err != nil:
			st.log.Warn("releasing session lock failed; retrying in the background", "session", id, "err", err)
			st.bg.Add(1)
			go st.release(key, token, acquired.Add(st.lockTTL))
		case n == 0:
			st.log.Warn("session lock expired before unlock: the turn took longer than LockTTL", "session", id, "lock_ttl", st.lockTTL)
		}
	}, nil
}

// release retries a failed unlock until it succeeds, the lock would have
// expired anyway, or the store closes. Without it, a Redis that restarts
// from its append-only file brings back locks whose unlocks failed during
// the outage, and their sessions wait out LockTTL.
func (st *Store) release(key, token string, expires time.Time) {
	defer st.bg.Done()
	backoff := 50 * time.Millisecond
	for time.Until(expires) > 0 {
		t := time.NewTimer(min(backoff, time.Until(expires)))
		select {
		case <-st.stop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := unlockScript.Run(ctx, st.rdb, []string{key}, token).Err()
		cancel()
		if err == nil {
			return
		}
		backoff = min(2*backoff, time.Second)
	}
}

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// cutoff is the Updated time, in Unix ms, at or before which a session
// has expired.
func (st *Store) cutoff(now time.Time) int64 {
	return now.UnixMilli() - st.ttl.Milliseconds()
}

// wrap adds the operation and session id. go-redis errors name the address
// but never the password.
func wrap(op, id string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.ErrClosed) {
		err = session.ErrClosed
	}
	if id == "" {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return fmt.Errorf("redisstore: %s %q: %w", op, id, err)
}
