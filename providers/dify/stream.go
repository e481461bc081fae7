package dify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/kefu-chat/kefu/providers"
)

// maxFrame bounds one SSE frame (message_end may carry retriever
// resources with whole segments).
const maxFrame = 8 << 20

// sseReader splits a text/event-stream into the data of its frames, as
// Dify writes them: "data: <json>" lines ended by a blank line, and bare
// "event: ping" frames with no data, which it skips. It follows the SSE
// rules Dify relies on: lines end in \n or \r\n, a field's value loses
// one leading space, several data lines join with \n, lines starting
// with ':' are comments, and a frame not ended by a blank line is
// dropped.
type sseReader struct {
	r *bufio.Reader
}

func newSSEReader(r io.Reader) *sseReader { return &sseReader{r: bufio.NewReaderSize(r, 16<<10)} }

var errFrameTooLarge = errors.New("stream frame too large")

// next returns the next frame's data, or io.EOF at the end of the input,
// or the reader's error.
func (s *sseReader) next() ([]byte, error) {
	var (
		data    []byte
		hasData bool
		typ     string
		size    int
	)
	for {
		line, err := s.line(maxFrame - size)
		if err != nil {
			return nil, err
		}
		size += len(line)
		if len(line) == 0 {
			if hasData && typ != "ping" {
				return data, nil
			}
			data, hasData, typ, size = nil, false, "", 0
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		case "event":
			typ = string(value)
		}
	}
}

// line reads one line without its terminator; a last line without a
// terminator is dropped with the frame it belongs to (io.EOF).
func (s *sseReader) line(max int) ([]byte, error) {
	var buf []byte
	for {
		part, err := s.r.ReadSlice('\n')
		if len(buf)+len(part) > max {
			return nil, errFrameTooLarge
		}
		switch err {
		case nil:
			if buf == nil {
				buf = part
			} else {
				buf = append(buf, part...)
			}
			buf = buf[:len(buf)-1]
			if n := len(buf); n > 0 && buf[n-1] == '\r' {
				buf = buf[:n-1]
			}
			// ReadSlice's buffer is reused by the next read: copy.
			return append([]byte(nil), buf...), nil
		case bufio.ErrBufferFull:
			buf = append(buf, part...)
		default:
			return nil, err
		}
	}
}

// event is what kefu reads of one Dify stream event.
type event struct {
	Event          string
	ConversationID string
	Answer         string
	Usage          *providers.Usage
	Err            apiError // for "error"
}

// decodeEvent decodes one frame's JSON. Only the fields of the events
// kefu acts on are typed, so unknown or changed events cannot fail the
// stream.
func decodeEvent(data []byte) (event, error) {
	var head struct {
		Event          string `json:"event"`
		ConversationID any    `json:"conversation_id"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return event{}, err
	}
	ev := event{Event: head.Event}
	if id, ok := head.ConversationID.(string); ok {
		ev.ConversationID = id
	}
	switch head.Event {
	case "message", "agent_message", "message_replace":
		var b struct {
			Answer string `json:"answer"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			return event{}, err
		}
		ev.Answer = b.Answer
	case "message_end":
		var b struct {
			Metadata struct {
				Usage *providers.Usage `json:"usage"`
			} `json:"metadata"`
		}
		// Usage is best effort: a changed metadata shape must not turn
		// a finished answer into a failure.
		if json.Unmarshal(data, &b) == nil {
			ev.Usage = b.Metadata.Usage
		}
	case "error":
		var b struct {
			Status  any `json:"status"`
			Code    any `json:"code"`
			Message any `json:"message"`
		}
		_ = json.Unmarshal(data, &b)
		if f, ok := b.Status.(float64); ok && f >= 100 && f < 600 {
			ev.Err.Status = int(f)
		}
		ev.Err.Code, _ = b.Code.(string)
		ev.Err.Message, _ = b.Message.(string)
	}
	return ev, nil
}

// stream is a Dify streaming reply. Recv is for one goroutine; Close may
// be called from any, any number of times.
type stream struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	body   io.ReadCloser
	sse    *sseReader
	t      turn

	done       bool  // a terminal event or error was seen
	err        error // what Recv returns once done
	remembered bool

	once   sync.Once
	closed atomic.Bool
}

func (c *Client) newStream(ctx context.Context, cancel context.CancelFunc, body io.ReadCloser, t turn) *stream {
	return &stream{c: c, ctx: ctx, cancel: cancel, body: body, sse: newSSEReader(body), t: t}
}

// Recv returns the next text delta; the last chunk carries the usage
// Dify reports in message_end. After it Recv returns io.EOF; an error
// event, a moderation replacement, or a stream cut before message_end
// come back as *providers.Error.
func (s *stream) Recv() (providers.Chunk, error) {
	if s.done {
		return providers.Chunk{}, s.err
	}
	if s.closed.Load() {
		return providers.Chunk{}, s.fail(s.closedErr())
	}
	for {
		data, err := s.sse.next()
		if err != nil {
			return providers.Chunk{}, s.fail(s.readErr(err))
		}
		ev, err := decodeEvent(data)
		if err != nil {
			return providers.Chunk{}, s.fail(&providers.Error{Provider: s.c.name, Kind: providers.KindUnavailable,
				Message: "malformed stream event", Err: err})
		}
		if ev.ConversationID != "" && s.t.remember && !s.remembered {
			s.c.convs.Put(s.t.key, ev.ConversationID)
			s.remembered = true
		}
		switch ev.Event {
		case "message", "agent_message":
			if ev.Answer != "" {
				return providers.Chunk{Delta: ev.Answer}, nil
			}
		case "message_end":
			s.fail(io.EOF)
			if ev.Usage != nil {
				return providers.Chunk{Usage: ev.Usage}, nil
			}
			return providers.Chunk{}, io.EOF
		case "error":
			return providers.Chunk{}, s.fail(s.c.apiErr(0, ev.Err))
		case "message_replace":
			// Output moderation replaced what was said so far; deltas
			// cannot be taken back, so the stream ends as filtered.
			return providers.Chunk{}, s.fail(&providers.Error{Provider: s.c.name, Kind: providers.KindContentFilter,
				Message: "answer replaced by the app's output moderation: " + s.c.safe(ev.Answer)})
		}
		// ping frames never get here; workflow, node, agent_thought,
		// tts and unknown events carry no answer text.
	}
}

// fail ends the stream with err (io.EOF for success), releases the
// connection and returns err.
func (s *stream) fail(err error) error {
	s.done, s.err = true, err
	s.release()
	return err
}

func (s *stream) closedErr() error {
	return &providers.Error{Provider: s.c.name, Kind: providers.KindCanceled, Message: "stream closed", Err: errClosed}
}

func (s *stream) readErr(err error) error {
	if s.closed.Load() {
		return s.closedErr()
	}
	if s.ctx.Err() != nil {
		return s.c.transportErr(s.ctx, err, "reading stream")
	}
	switch {
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return &providers.Error{Provider: s.c.name, Kind: providers.KindUnavailable,
			Message: "stream ended before message_end", Err: io.ErrUnexpectedEOF}
	case errors.Is(err, errFrameTooLarge):
		return &providers.Error{Provider: s.c.name, Kind: providers.KindUnavailable, Message: err.Error(), Err: err}
	}
	return s.c.transportErr(s.ctx, err, "reading stream")
}

func (s *stream) release() {
	s.once.Do(func() {
		s.cancel()
		s.body.Close()
	})
}

// Close cancels the upstream request and closes the connection; Dify
// stops sending when the client goes away. It is idempotent.
func (s *stream) Close() error {
	s.closed.Store(true)
	s.release()
	return nil
}
