package engine

import (
	"encoding/json"
	"time"

	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/providers"
	"github.com/kefu-chat/kefu/providers/gateway"
)

// Routes a turn can take, in the order the engine tries them.
const (
	RouteFlow       = "flow"
	RouteKnowledge  = "knowledge"
	RouteGenerative = "generative"
	RouteHandoff    = "handoff"
	RouteFallback   = "fallback"
	RouteAgent      = "agent" // a human agent's reply, recorded in memory
)

// Request is one customer message, or an event, for one session.
type Request struct {
	SessionID string
	UserID    string
	Channel   string
	Text      string
	Event     string            // instead of Text: an event a flow can start on (event 会话开始)
	Metadata  map[string]string // kept with nothing else; for adapters
	Now       time.Time         // zero: the engine's clock; conversation scripts pin it
	// Tenant is who acts: a new session is created for it, a session with
	// no tenant is given to it, and a session of another tenant is refused
	// with ErrForbidden. "" is the operator (channel adapters, whose own
	// secrets authenticate them, command-line tools, and the API when no
	// keys are configured): it may continue any session and claims none.
	Tenant string
	// Stream, when set, receives a generated reply as it is produced: a
	// start event with the route and intent, then the text deltas. Replies
	// that are not generated are only in the returned Reply. It is called
	// from the turn's goroutine.
	Stream func(StreamEvent)
}

// StreamEvent is a piece of a streamed turn.
type StreamEvent struct {
	Start  bool    // the first event: Route and Intent are set
	Route  string  `json:"route,omitempty"`
	Intent *Intent `json:"intent,omitempty"`
	Delta  string  `json:"delta,omitempty"`
}

// Part is one piece of a reply. Channels that cannot show a type degrade
// it to text.
type Part struct {
	Type string `json:"type"` // text
	Text string `json:"text"`
}

// Intent is the understood intent. Name is "oos" when out of scope.
type Intent struct {
	Name       string  `json:"name"`
	Confidence float64 `json:"confidence"`
}

// Entity is an entity found in the message.
type Entity struct {
	Type  string `json:"type"`
	Value string `json:"value"`
	Text  string `json:"text"`
}

// FlowRef names the flow and step a turn ended on. Active means the flow is
// still running: it waits for the customer's answer.
type FlowRef struct {
	Name   string `json:"name"`
	Step   string `json:"step"`
	Active bool   `json:"active"`
}

// Timings are per-stage durations of a turn.
type Timings struct {
	Normalize time.Duration `json:"-"`
	Classify  time.Duration `json:"-"`
	Entities  time.Duration `json:"-"`
	Retrieve  time.Duration `json:"-"`
	Generate  time.Duration `json:"-"`
	Lock      time.Duration `json:"-"`
	Dialog    time.Duration `json:"-"`
	Services  time.Duration `json:"-"`
	Save      time.Duration `json:"-"`
	Total     time.Duration `json:"-"`
}

// MarshalJSON writes each stage in milliseconds.
func (t Timings) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return json.Marshal(map[string]float64{
		"normalize_ms": ms(t.Normalize),
		"classify_ms":  ms(t.Classify),
		"entities_ms":  ms(t.Entities),
		"lock_ms":      ms(t.Lock),
		"dialog_ms":    ms(t.Dialog),
		"retrieve_ms":  ms(t.Retrieve),
		"generate_ms":  ms(t.Generate),
		"services_ms":  ms(t.Services),
		"save_ms":      ms(t.Save),
		"total_ms":     ms(t.Total),
	})
}

// ServiceCall records one business service call a flow made.
type ServiceCall struct {
	Service  string        `json:"service"`
	Op       string        `json:"operation"`
	OK       bool          `json:"ok"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"-"`
}

// Source is a knowledge base chunk a turn retrieved, with its score.
type Source struct {
	ID      string  `json:"id"`
	DocID   string  `json:"doc_id"`
	Title   string  `json:"title"`
	Score   float64 `json:"score"`
	Dense   float64 `json:"dense"`
	Lexical float64 `json:"lexical"`
	Used    bool    `json:"used"` // answered from it, or passed on as context

	text   string // the passage, for a prompt
	answer string // an FAQ answer
}

// Reply is the result of a turn: what to say, and why.
type Reply struct {
	SessionID string         `json:"session_id"`
	TurnID    string         `json:"turn_id"`
	Replies   []Part         `json:"replies"`
	Route     string         `json:"route"`
	Intent    Intent         `json:"intent"`
	Entities  []Entity       `json:"entities"`
	Flow      *FlowRef       `json:"flow,omitempty"`
	Slots     map[string]any `json:"slots,omitempty"`
	Vars      map[string]any `json:"variables,omitempty"`
	Handoff   bool           `json:"handoff"`
	Calls     []ServiceCall  `json:"calls,omitempty"`
	Sources   []Source       `json:"sources,omitempty"`

	// Provider, Usage and Attempts describe a generation: which provider
	// answered, what it cost, and every attempt of the route.
	Provider     string            `json:"provider,omitempty"`
	Usage        *providers.Usage  `json:"usage,omitempty"`
	SessionUsage *session.Usage    `json:"session_usage,omitempty"`
	Attempts     []gateway.Attempt `json:"attempts,omitempty"`
	Reason       string            `json:"reason,omitempty"` // why the route: "keyword", "intent", "slot", "sensitive", "no match", "error"...
	Timings      Timings           `json:"timings"`

	queue      string // the handoff queue a flow named
	newHandoff bool   // this turn put the session in the queue
	guarded    int    // generated replies the leak guard withheld
}
