package keylock

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Lock once the Map is closed.
var ErrClosed = errors.New("keylock: closed")

// Map is a set of per-key mutexes. The zero value is not usable; call New.
type Map struct {
	mu     sync.Mutex
	keys   map[string]*entry
	closed chan struct{}
	once   sync.Once
}

type entry struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holders and waiters; guarded by Map.mu
}

// New returns an empty Map.
func New() *Map {
	return &Map{keys: make(map[string]*entry), closed: make(chan struct{})}
}

// Lock waits until key is free, ctx is done (ctx.Err() is returned) or the
// Map is closed (ErrClosed). The returned unlock is idempotent.
func (m *Map) Lock(ctx context.Context, key string) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-m.closed:
		return nil, ErrClosed
	default:
	}
	m.mu.Lock()
	e := m.keys[key]
	if e == nil {
		e = &entry{ch: make(chan struct{}, 1)}
		m.keys[key] = e
	}
	e.refs++
	m.mu.Unlock()

	select {
	case e.ch <- struct{}{}:
	case <-ctx.Done():
		m.release(key, e)
		return nil, ctx.Err()
	case <-m.closed:
		m.release(key, e)
		return nil, ErrClosed
	}
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		<-e.ch
		m.release(key, e)
	}, nil
}

func (m *Map) release(key string, e *entry) {
	m.mu.Lock()
	e.refs--
	if e.refs == 0 {
		delete(m.keys, key)
	}
	m.mu.Unlock()
}

// Len reports how many keys are held or waited for.
func (m *Map) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

// Close makes waiting and later Lock calls return ErrClosed. Held locks
// stay held until unlocked.
func (m *Map) Close() {
	m.once.Do(func() { close(m.closed) })
}
