// Package channels holds what the channel adapters share. An adapter (one
// subpackage per platform: webhook, telegram) is an input channel in Rasa's
// sense: it only converts a platform's wire format into an engine turn and
// the turn's reply back into the platform's messages. It owns no dialog
// state, no session storage and no business logic.
//
// Sessions: every adapter maps a platform user to a kefu session id with an
// Identities function (nil: channel+":"+userID). An operator who maps a
// Telegram user and a webhook user to the same id gets one conversation
// across both channels.
package channels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/api"
	"github.com/kefu-chat/kefu/engine"
)

// Turner runs one turn. *engine.Engine satisfies it.
type Turner interface {
	Turn(ctx context.Context, req engine.Request) (*engine.Reply, error)
}

// Limited returns a Turner that admits each turn through a before running
// it on t: the per-key budget under key (by convention "channel:" and the
// channel's name), the session's budget for the request's tenant, and the
// turns in flight. A refused turn returns the *api.Error, 429 rate_limited
// or 503 overloaded. With wait, a refused turn instead waits its
// RetryAfter and tries again while ctx allows: a channel that has already
// answered its platform and replies later wants that.
func Limited(t Turner, a *api.Admission, key string, wait bool) Turner {
	return limited{t: t, a: a, key: key, wait: wait}
}

type limited struct {
	t    Turner
	a    *api.Admission
	key  string
	wait bool
}

func (l limited) Turn(ctx context.Context, req engine.Request) (*engine.Reply, error) {
	for {
		release, err := l.a.Admit(l.key, req.Tenant, req.SessionID)
		if err == nil {
			defer release()
			return l.t.Turn(ctx, req)
		}
		var ae *api.Error
		if !l.wait || !errors.As(err, &ae) || ae.RetryAfter() <= 0 {
			return nil, err
		}
		timer := time.NewTimer(ae.RetryAfter())
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, err
		case <-timer.C:
		}
	}
}

// SessionID maps a platform user to a kefu session id with identities, or
// to channel+":"+userID when identities is nil or returns "".
func SessionID(identities func(channel, userID string) string, channel, userID string) string {
	if identities != nil {
		if id := identities(channel, userID); id != "" {
			return id
		}
	}
	return channel + ":" + userID
}

// Degrade turns reply parts into plain-text messages, one per part, for a
// channel that can only show text (Rasa's OutputChannel default). Text parts
// pass through; a part of any other type (buttons, quick replies, images)
// becomes its Text. Parts with no text are dropped.
func Degrade(parts []engine.Part) []string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if strings.TrimSpace(p.Text) == "" {
			continue
		}
		out = append(out, p.Text)
	}
	return out
}

// Split cuts text into pieces of at most n runes, for platforms that limit
// the length of one message.
func Split(text string, n int) []string {
	r := []rune(text)
	var out []string
	for len(r) > n {
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	return append(out, string(r))
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes the /v1 error envelope:
// {"error":{"code":…,"message":…}}, with the status the API gives code.
// message is shown to the client.
func WriteError(w http.ResponseWriter, code, message string) {
	WriteAPIError(w, api.NewError(code, message))
}

// WriteAPIError writes e as the /v1 error envelope with its status, and
// Retry-After when e says when to retry. e.Message is shown to the client.
func WriteAPIError(w http.ResponseWriter, e *api.Error) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if d := e.RetryAfter(); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	}
	WriteJSON(w, e.Status, map[string]body{"error": {Code: e.Code, Message: e.Message}})
}

// ReadPost reads a POST body of at most limit bytes. On a wrong method or a
// body it cannot read it writes the error envelope and returns false.
func ReadPost(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, api.CodeMethodNotAllowed, "use POST")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		WriteError(w, api.CodeBodyTooLarge, fmt.Sprintf("body is larger than %d bytes", limit))
	case err != nil:
		WriteError(w, api.CodeInvalidArgument, "could not read the body")
	default:
		return body, true
	}
	return nil, false
}
