package coze

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kefu-chat/kefu/providers"
)

// maxLine bounds one SSE line (a whole message's content can sit on one
// data line of conversation.message.completed).
const maxLine = 8 << 20

// event is one server-sent event.
type event struct{ name, data string }

// sseReader splits Coze's SSE: "event:" and "data:" lines (no space after
// the colon in Coze's own fixtures; one space is tolerated as the SSE spec
// says), a blank line between events. Several data lines join with "\n";
// comments (":…"), "id:" and "retry:" are skipped. A last event without
// its blank line is still delivered at EOF.
type sseReader struct{ sc *bufio.Scanner }

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return &sseReader{sc: sc}
}

// next returns the next event, io.EOF at the end, or the read error.
func (r *sseReader) next() (event, error) {
	var (
		ev   event
		data []string
		seen bool
	)
	for r.sc.Scan() {
		line := strings.TrimSuffix(r.sc.Text(), "\r")
		if line == "" {
			if seen {
				ev.data = strings.Join(data, "\n")
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, val, _ := strings.Cut(line, ":")
		val = strings.TrimPrefix(val, " ")
		switch field {
		case "event":
			ev.name, seen = val, true
		case "data":
			data, seen = append(data, val), true
		}
	}
	if err := r.sc.Err(); err != nil {
		return event{}, err
	}
	if seen {
		ev.data = strings.Join(data, "\n")
		return ev, nil
	}
	return event{}, io.EOF
}

// stream turns Coze's events into kefu chunks. Recv is for one goroutine;
// Close may be called from any, any number of times.
type stream struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	body   io.Closer
	sse    *sseReader
	t      turn
	logid  string

	pending   []providers.Chunk
	err       error // terminal: io.EOF or an *providers.Error
	started   bool
	cur       string          // id of the answer message being streamed
	streamed  map[string]bool // answer messages that had deltas
	usage     *providers.Usage
	completed bool

	closed    atomic.Bool
	closeOnce sync.Once
}

// prime reads up to the first chunk or the end, so Stream can return an
// early error itself.
func (s *stream) prime() error {
	for len(s.pending) == 0 && s.err == nil {
		s.step()
	}
	if len(s.pending) == 0 && s.err != io.EOF {
		return s.err
	}
	return nil
}

func (s *stream) Recv() (providers.Chunk, error) {
	for len(s.pending) == 0 && s.err == nil {
		if s.closed.Load() {
			return providers.Chunk{}, s.c.err(providers.KindCanceled, 0, "stream closed", nil)
		}
		s.step()
	}
	if len(s.pending) > 0 {
		ch := s.pending[0]
		s.pending = s.pending[1:]
		return ch, nil
	}
	s.release()
	return providers.Chunk{}, s.err
}

// Close cancels the upstream request and closes its body; the server sees
// the connection go away.
func (s *stream) Close() error {
	s.closed.Store(true)
	s.release()
	return nil
}

func (s *stream) release() {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.body != nil {
			s.body.Close()
		}
	})
}

// step reads one event and applies it.
func (s *stream) step() {
	ev, err := s.sse.next()
	if err != nil {
		switch {
		case s.closed.Load():
			s.err = s.c.err(providers.KindCanceled, 0, "stream closed", nil)
		case err == io.EOF && s.completed:
			s.finish()
		case err == io.EOF:
			s.err = s.c.err(providers.KindUnavailable, 0, "stream ended before conversation.chat.completed", io.ErrUnexpectedEOF)
		case errors.Is(err, bufio.ErrTooLong):
			s.err = s.c.err(providers.KindUnavailable, 0, "event line too long", err)
		default:
			s.err = s.c.transportErr(s.ctx, err)
		}
		return
	}
	switch ev.name {
	case "conversation.chat.created", "conversation.chat.in_progress":
		var ch chat
		if s.decode(ev, &ch) {
			s.c.remember(s.t, ch.ConversationID)
		}
	case "conversation.message.delta":
		var m message
		if s.decode(ev, &m) && isAnswer(m) && m.Content != "" {
			if s.streamed == nil {
				s.streamed = map[string]bool{}
			}
			s.streamed[m.ID] = true
			s.emit(m.ID, m.Content)
		}
	case "conversation.message.completed":
		var m message
		if s.decode(ev, &m) && isAnswer(m) && m.Content != "" && !s.streamed[m.ID] {
			s.emit(m.ID, m.Content) // an answer that came whole, without deltas
		}
	case "conversation.chat.completed":
		var ch chat
		if s.decode(ev, &ch) {
			s.completed = true
			s.c.remember(s.t, ch.ConversationID)
			if ch.Usage != nil {
				u := ch.Usage.kefu()
				s.usage = &u
			}
		}
	case "conversation.chat.failed":
		var ch chat
		if s.decode(ev, &ch) {
			ch.Status = "failed"
			s.err = s.c.statusError(ch)
		}
	case "conversation.chat.requires_action":
		s.err = s.c.statusError(chat{Status: "requires_action"})
	case "error":
		var ce cozeError
		_ = json.Unmarshal([]byte(ev.data), &ce)
		if ce.Code != 0 {
			s.err = s.c.codeErr(ce.Code, ce.Msg, s.logid)
		} else {
			msg := "error event"
			if ce.Msg != "" {
				msg += ": " + ce.Msg
			}
			s.err = s.c.err(providers.KindUnavailable, 0, msg, nil)
		}
	case "done":
		s.finish()
	}
	// Other events (audio deltas, future ones) are ignored.
}

func isAnswer(m message) bool {
	return m.Type == "answer" && (m.ContentType == "" || m.ContentType == "text")
}

func (s *stream) decode(ev event, v any) bool {
	if err := json.Unmarshal([]byte(ev.data), v); err != nil {
		s.err = s.c.err(providers.KindUnavailable, 0, "malformed "+ev.name+" event", err)
		return false
	}
	return true
}

func (s *stream) emit(id, text string) {
	switch {
	case !s.started:
		s.started, s.cur = true, id
	case id != s.cur:
		s.cur = id
		text = answerSep + text
	}
	s.pending = append(s.pending, providers.Chunk{Delta: text})
}

// finish ends the stream: the usage chunk, if any, then io.EOF.
func (s *stream) finish() {
	if s.usage != nil {
		s.pending = append(s.pending, providers.Chunk{Usage: s.usage})
	}
	s.err = io.EOF
}
