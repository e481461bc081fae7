package gateway

import (
	"sync"
	"time"
)

// BreakerConfig: the breaker opens after Failures failures within Window,
// stays open for Cooldown, then lets one call through (half-open): success
// closes it, failure opens it again.
type BreakerConfig struct {
	Failures int           // default 5; negative disables the breaker
	Window   time.Duration // default 60s
	Cooldown time.Duration // default 30s
}

type breakerState int

const (
	closed breakerState = iota
	open
	halfOpen
)

type breaker struct {
	cfg      BreakerConfig
	now      func() time.Time
	mu       sync.Mutex
	st       breakerState
	fails    int
	since    time.Time // first failure of the window, or when it opened
	trialOut bool      // half-open: the one trial call is in flight
}

func newBreaker(c BreakerConfig, now func() time.Time) *breaker {
	if c.Failures == 0 {
		c.Failures = 5
	}
	if c.Window <= 0 {
		c.Window = time.Minute
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 30 * time.Second
	}
	return &breaker{cfg: c, now: now}
}

// allow reports whether a call may go through now.
func (b *breaker) allow() bool {
	if b.cfg.Failures < 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.st {
	case open:
		if b.now().Sub(b.since) < b.cfg.Cooldown {
			return false
		}
		b.st, b.trialOut = halfOpen, true
		return true
	case halfOpen:
		if b.trialOut {
			return false
		}
		b.trialOut = true
		return true
	}
	return true
}

// failure records a failed call and reports whether it opened the breaker.
func (b *breaker) failure() bool {
	if b.cfg.Failures < 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	switch b.st {
	case halfOpen:
		b.st, b.since, b.trialOut = open, now, false
		return true
	case open:
		return false
	}
	if b.fails == 0 || now.Sub(b.since) > b.cfg.Window {
		b.fails, b.since = 0, now
	}
	b.fails++
	if b.fails >= b.cfg.Failures {
		b.st, b.since, b.fails = open, now, 0
		return true
	}
	return false
}

// release ends a half-open trial whose outcome says nothing about the
// provider's health (the caller went away, the request itself was bad):
// the next call becomes the trial. Without it the breaker would wait for
// a verdict that never comes and skip the provider for good.
func (b *breaker) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.st == halfOpen {
		b.trialOut = false
	}
}

func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.st, b.fails, b.trialOut = closed, 0, false
}

func (b *breaker) state() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}
