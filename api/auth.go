package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Scopes an API key may hold.
const (
	ScopeChat      = "chat"      // /v1/chat, /v1/chat/completions, /v1/sessions, /v1/classify
	ScopeKnowledge = "knowledge" // /v1/knowledge/*
	ScopeAdmin     = "admin"     // /v1/handoff/*, /admin/*
)

// APIKey is a bearer token and what it may do. Key is a secret: it is
// compared in constant time and never logged.
type APIKey struct {
	Name   string
	Key    string
	Scopes []string
	// Tenant owns the sessions the key creates; keys of one tenant share
	// them, and other tenants' keys get 403 permission_denied on them.
	// "" means Name (and a key with neither gets a tenant of its own).
	Tenant string
}

// Limits protect the server. Zero fields mean no limit.
type Limits struct {
	PerKey        float64 // turns per second per API key
	PerSession    float64 // turns per second per session
	MaxConcurrent int     // turns in flight; beyond it 503 overloaded, no queueing
}

// keyCtx holds the *hashedKey of an authenticated request.
type keyCtx struct{}

// auth holds the keys, hashed so a comparison costs the same for every key.
type auth struct {
	keys []hashedKey
}

type hashedKey struct {
	name   string
	tenant string
	sum    [32]byte
	scopes []string
}

func newAuth(keys []APIKey) *auth {
	a := &auth{}
	for i, k := range keys {
		tenant := k.Tenant
		if tenant == "" {
			tenant = k.Name
		}
		if tenant == "" {
			// Never "": the engine reads it as the operator's, which
			// passes every session.
			tenant = fmt.Sprintf("\x00key %d", i)
		}
		a.keys = append(a.keys, hashedKey{name: k.Name, tenant: tenant, sum: sha256.Sum256([]byte(k.Key)), scopes: k.Scopes})
	}
	return a
}

// callerKey returns the request's API key, or nil when no keys are
// configured (development mode).
func callerKey(r *http.Request) *hashedKey {
	k, _ := r.Context().Value(keyCtx{}).(*hashedKey)
	return k
}

// tenantOf is the tenant the request acts for: its key's, or "" in
// development mode.
func tenantOf(r *http.Request) string {
	if k := callerKey(r); k != nil {
		return k.tenant
	}
	return ""
}

// isAdmin reports whether the request's key holds the admin scope.
func isAdmin(r *http.Request) bool {
	k := callerKey(r)
	return k != nil && slices.Contains(k.scopes, ScopeAdmin)
}

// lookup finds the key of a bearer token, comparing every configured key
// in constant time.
func (a *auth) lookup(token string) *hashedKey {
	sum := sha256.Sum256([]byte(token))
	var found *hashedKey
	for i := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], a.keys[i].sum[:]) == 1 {
			found = &a.keys[i]
		}
	}
	return found
}

// require admits requests with a key holding scope. With no keys
// configured, chat and knowledge are open (development) but admin never
// is.
func (s *server) require(scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(s.auth.keys) == 0 && scope != ScopeAdmin {
				next.ServeHTTP(w, r)
				return
			}
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || token == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="kefu"`)
				s.fail(w, r, NewError(CodeUnauthenticated, "an API key is required: Authorization: Bearer <key>"))
				return
			}
			k := s.auth.lookup(strings.TrimSpace(token))
			if k == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="kefu", error="invalid_token"`)
				s.fail(w, r, NewError(CodeUnauthenticated, "invalid API key"))
				return
			}
			if !slices.Contains(k.scopes, scope) {
				s.fail(w, r, NewError(CodePermissionDenied, fmt.Sprintf("key %q lacks the %s scope", k.name, scope)))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyCtx{}, k)))
		})
	}
}

// limiter keeps a token bucket per name, forgetting idle ones.
type limiter struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*entry
	last  time.Time
}

type entry struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{rate: rate.Limit(perSecond), burst: max(1, int(math.Ceil(perSecond))), m: map[string]*entry{}}
}

// allow reports whether name may go now, and if not, when to retry.
func (l *limiter) allow(name string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) > time.Minute {
		for k, e := range l.m {
			if now.Sub(e.seen) > time.Minute {
				delete(l.m, k)
			}
		}
		l.last = now
	}
	e := l.m[name]
	if e == nil {
		e = &entry{l: rate.NewLimiter(l.rate, l.burst)}
		l.m[name] = e
	}
	e.seen = now
	r := e.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Admission applies Limits to turns. The server and the channel adapters
// (channels.Limited) share one, so a session has one budget however its
// messages arrive and max_concurrent_turns bounds every turn. It is safe
// for concurrent use.
type Admission struct {
	perKey     *limiter
	perSession *limiter
	turns      chan struct{}
}

// NewAdmission returns an Admission applying l.
func NewAdmission(l Limits) *Admission {
	a := &Admission{perKey: newLimiter(l.PerKey), perSession: newLimiter(l.PerSession)}
	if l.MaxConcurrent > 0 {
		a.turns = make(chan struct{}, l.MaxConcurrent)
	}
	return a
}

// Admit admits one turn on session for the caller named key (an API key's
// name, or a channel's) acting for tenant. It refuses with a 429
// rate_limited or 503 overloaded *Error whose RetryAfter says when to try
// again; otherwise release must be called when the turn ends. A session's
// budget is per tenant, so another tenant's refused attempts on its id do
// not spend the owner's.
func (a *Admission) Admit(key, tenant, session string) (release func(), err error) {
	now := time.Now()
	if ok, wait := a.perKey.allow(key, now); !ok {
		return nil, rateLimited("too many turns for this API key", wait)
	}
	if ok, wait := a.perSession.allow(tenant+"\x00"+session, now); !ok {
		return nil, rateLimited("too many messages in this session; slow down", wait)
	}
	if a.turns == nil {
		return func() {}, nil
	}
	select {
	case a.turns <- struct{}{}:
		return func() { <-a.turns }, nil
	default:
		e := NewError(CodeOverloaded, "the server is busy; retry shortly")
		e.retryAfter = time.Second
		return nil, e
	}
}

// admitTurn applies the turn limits for a session of the request's key.
func (s *server) admitTurn(r *http.Request, session string) (func(), error) {
	key, tenant := "-", ""
	if k := callerKey(r); k != nil {
		key, tenant = k.name, k.tenant
	}
	return s.admission.Admit(key, tenant, session)
}

// rateLimited is a 429 that says when to retry.
func rateLimited(msg string, after time.Duration) error {
	e := NewError(CodeRateLimited, msg)
	e.retryAfter = after
	return e
}

// cors answers preflights and sets Access-Control-Allow-Origin for the
// configured origins ("*" allows any).
func cors(origins []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if len(origins) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			if origin != "" && (slices.Contains(origins, "*") || slices.Contains(origins, origin)) {
				h := w.Header()
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
				h.Set("Access-Control-Expose-Headers", "X-Request-Id, X-Session-Id, Retry-After")
				if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
					h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
					h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Session-Id, X-Request-Id")
					h.Set("Access-Control-Max-Age", strconv.Itoa(600))
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
