package session

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// DefaultMaxTurns is how many turns a session remembers when the engine's
// config does not say.
const DefaultMaxTurns = 20

// Sentinel errors returned by every Store; match them with errors.Is.
var (
	// ErrNotFound: the session does not exist or has been idle longer than
	// the store's IdleTTL.
	ErrNotFound = errors.New("session: not found")
	// ErrConflict: Save was given a Version other than the stored one
	// (another turn saved first, or the session was deleted or expired).
	ErrConflict = errors.New("session: version conflict")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("session: store closed")
)

// Session is one customer conversation. A *Session returned by Get belongs
// to the caller; stores keep no reference to it.
type Session struct {
	ID      string
	UserID  string
	Channel string
	// Tenant is the tenant whose API key created or first used the
	// session; other tenants may not continue, read or delete it. "" is a
	// session stored before tenants existed, or one created without an API
	// key (channel adapters, development mode).
	Tenant  string
	Created time.Time // set by the first Save when zero
	Updated time.Time // set by every Save to the store's clock
	// Turns holds the last turns, oldest first; see Append.
	Turns []Turn
	// Dialog is the dialog runtime's state, opaque here. It must be valid
	// JSON (or nil); stores may compact it.
	Dialog  json.RawMessage
	Handoff *Handoff // non-nil while a human owns the session
	// Usage is what generation has cost this session so far.
	Usage Usage
	// Version is the stored version this copy was read at (0 for a new
	// session). Save increments it.
	Version uint64
}

// Usage totals a session's generative calls.
type Usage struct {
	PromptTokens     int     `json:"prompt_tokens"`
	CompletionTokens int     `json:"completion_tokens"`
	Cost             float64 `json:"cost"`
}

// Tokens is the total of prompt and completion tokens.
func (u Usage) Tokens() int { return u.PromptTokens + u.CompletionTokens }

// Turn is one customer message and what was answered.
type Turn struct {
	ID      string
	At      time.Time
	Text    string   // the customer's original text
	Replies []string // what kefu (or the agent) answered
	Intent  string
	Route   string // flow, knowledge, generative, handoff, fallback, agent
}

// Handoff marks a session as owned by a human agent.
type Handoff struct {
	Queue  string // e.g. "售后专员"; "" for the default queue
	Reason string
	Since  time.Time
	Agent  string // set once an agent has claimed or answered it
}

// Append adds t and keeps only the last limit turns (DefaultMaxTurns when
// limit <= 0). Once the session is full, it shifts turns within the same
// backing array, so a long conversation does not grow or churn memory.
func (s *Session) Append(t Turn, limit int) {
	if limit <= 0 {
		limit = DefaultMaxTurns
	}
	if n := len(s.Turns); n >= limit {
		k := copy(s.Turns, s.Turns[n-limit+1:])
		clear(s.Turns[k:n]) // drop references so old text can be collected
		s.Turns = s.Turns[:k]
	}
	if len(s.Turns) == cap(s.Turns) {
		// Grow by hand: append would overshoot limit (20 turns -> cap 32).
		grown := make([]Turn, len(s.Turns), min(limit, max(4, 2*cap(s.Turns))))
		copy(grown, s.Turns)
		s.Turns = grown
	}
	s.Turns = append(s.Turns, t)
}

// QueueEntry is one session waiting for (or owned by) a human agent.
type QueueEntry struct {
	SessionID string
	Queue     string
	Reason    string
	Since     time.Time
	Agent     string
}

// Entry returns the queue entry for s, or false when s has no Handoff.
func (s *Session) Entry() (QueueEntry, bool) {
	if s.Handoff == nil {
		return QueueEntry{}, false
	}
	h := s.Handoff
	return QueueEntry{SessionID: s.ID, Queue: h.Queue, Reason: h.Reason, Since: h.Since, Agent: h.Agent}, true
}

// Store persists sessions. Implementations are safe for concurrent use.
// Every method returns ErrClosed after Close, and wraps other failures
// with the store's name and the session id.
type Store interface {
	// Get returns ErrNotFound when the session does not exist or has expired.
	Get(ctx context.Context, id string) (*Session, error)
	// Save writes s if s.Version matches the stored version (0 = new), then
	// increments s.Version and sets s.Updated (and s.Created when zero).
	// It returns ErrConflict otherwise, leaving s unchanged. Saving
	// refreshes the idle expiry.
	Save(ctx context.Context, s *Session) error
	// Delete removes the session; deleting a missing one is not an error.
	Delete(ctx context.Context, id string) error
	// Lock serialises turns of one session. ctx bounds only the wait; the
	// lock is held until unlock is called (Redis: at most LockTTL). unlock
	// must be called; calling it again does nothing.
	Lock(ctx context.Context, id string) (unlock func(), err error)
	// Waiting lists sessions with a non-nil Handoff, oldest Since first
	// (the human queue). Save and Delete maintain it; expired sessions
	// are left out.
	Waiting(ctx context.Context) ([]QueueEntry, error)
	// Close stops background work and releases resources. Locks still
	// held stay valid until unlocked; waiting Lock calls return ErrClosed.
	Close() error
}
