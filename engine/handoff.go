package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/kefu-chat/kefu/dsl/runtime"
	"github.com/kefu-chat/kefu/engine/session"
)

// ErrNotWaiting is returned by agent actions on a session no human owns.
var ErrNotWaiting = errors.New("engine: session is not waiting for an agent")

// SessionView is what GET /v1/sessions/{id} shows.
type SessionView struct {
	ID      string           `json:"session_id"`
	UserID  string           `json:"user_id,omitempty"`
	Channel string           `json:"channel,omitempty"`
	Created string           `json:"created"`
	Updated string           `json:"updated"`
	Turns   []session.Turn   `json:"turns"`
	Flow    *FlowRef         `json:"flow,omitempty"`
	Slots   map[string]any   `json:"slots,omitempty"`
	Vars    map[string]any   `json:"variables,omitempty"`
	Handoff *session.Handoff `json:"handoff,omitempty"`
}

// Session returns a session's memory and dialog state, whichever tenant
// it belongs to (agents and tools see every session); see SessionFor.
func (e *Engine) Session(ctx context.Context, id string) (*SessionView, error) {
	return e.SessionFor(ctx, "", id)
}

// view is what GET /v1/sessions/{id} shows of s.
func view(s *session.Session) *SessionView {
	v := &SessionView{ID: s.ID, UserID: s.UserID, Channel: s.Channel,
		Created: s.Created.Format(timeLayout), Updated: s.Updated.Format(timeLayout),
		Turns: s.Turns, Handoff: s.Handoff}
	if v.Turns == nil {
		v.Turns = []session.Turn{}
	}
	st := dialogState(s)
	if name, step := st.Active(); name != "" {
		v.Flow = &FlowRef{Name: name, Step: step}
	}
	v.Slots, v.Vars = st.Slots(), st.Vars
	return v
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func dialogState(s *session.Session) runtime.State {
	var st runtime.State
	if len(s.Dialog) > 0 {
		_ = json.Unmarshal(s.Dialog, &st) // an unreadable state shows as none
	}
	return st
}

// Reset forgets a session: memory, slots, variables and any handoff,
// whichever tenant it belongs to; see ResetFor.
func (e *Engine) Reset(ctx context.Context, id string) error {
	return e.ResetFor(ctx, "", id)
}

// Waiting lists the sessions in the human queue, oldest first.
func (e *Engine) Waiting(ctx context.Context) ([]session.QueueEntry, error) {
	return e.d.Sessions.Waiting(ctx)
}

// AgentReply records an agent's message in a waiting session's memory; the
// customer's frontend shows it from the session (or a channel adapter
// delivers it).
func (e *Engine) AgentReply(ctx context.Context, id, agent, text string) (*session.Turn, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, ErrEmpty
	}
	var turn session.Turn
	err := e.update(ctx, id, func(s *session.Session) error {
		if s.Handoff == nil {
			return ErrNotWaiting
		}
		if agent != "" {
			s.Handoff.Agent = agent
		}
		turn = session.Turn{ID: newID(), At: e.now(), Replies: []string{text}, Route: RouteAgent}
		s.Append(turn, e.cfg.Memory)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &turn, nil
}

// Release gives a waiting session back to the bot. Its flow state is reset;
// memory is kept.
func (e *Engine) Release(ctx context.Context, id string) (*session.Turn, error) {
	var turn session.Turn
	err := e.update(ctx, id, func(s *session.Session) error {
		if s.Handoff == nil {
			return ErrNotWaiting
		}
		s.Handoff = nil
		st := dialogState(s)
		st.Stack = nil
		s.Dialog, _ = json.Marshal(st)
		turn = session.Turn{ID: newID(), At: e.now(), Replies: []string{e.cfg.Texts.Released}, Route: RouteAgent}
		s.Append(turn, e.cfg.Memory)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &turn, nil
}

// update applies fn to a session under its lock and saves it.
func (e *Engine) update(ctx context.Context, id string, fn func(*session.Session) error) error {
	unlock, err := e.d.Sessions.Lock(ctx, id)
	if err != nil {
		return storeErr("lock", err)
	}
	defer unlock()
	s, err := e.d.Sessions.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := fn(s); err != nil {
		return err
	}
	s.Updated = e.now()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.SaveTimeout)
	defer cancel()
	return e.d.Sessions.Save(sctx, s)
}
