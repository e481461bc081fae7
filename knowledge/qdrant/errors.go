package qdrant

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/knowledge"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a request that Qdrant refused or that did not reach it. Err is
// the gRPC status error (or a context or transport error), so
// status.Code(err) and errors.As(err, &grpcStatus) see the code; a
// dimension error reported by the server also matches
// knowledge.ErrDimension. The message never holds the API key: gRPC puts
// credentials in metadata, which no status message repeats.
type Error struct {
	Op         string     // what kefu asked: "search", "upsert", "delete", …
	Collection string     // the collection asked about
	Code       codes.Code // the gRPC code; codes.Unknown when there was none
	// RetryAfter is how long Qdrant asked to wait when it rate-limited the
	// request (ResourceExhausted with a retry-after trailer); 0 otherwise.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	var msg string
	if s, ok := status.FromError(e.Err); ok {
		msg = s.Code().String() + ": " + s.Message()
	} else {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("qdrant: %s %q: %s", e.Op, e.Collection, msg)
}

// Unwrap returns Err, and knowledge.ErrDimension too when the server said
// a vector had the wrong size.
func (e *Error) Unwrap() []error {
	if e.Code == codes.InvalidArgument && strings.Contains(e.Err.Error(), "Vector dimension error") {
		return []error{e.Err, knowledge.ErrDimension}
	}
	return []error{e.Err}
}

// wrap turns an error from the client into an *Error. The official client
// turns ResourceExhausted with a retry-after trailer into a
// QdrantResourceExhaustedError, which has no status; wrap gives the code
// back.
func wrap(op, collection string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Collection: collection, Code: status.Code(err), Err: err}
	var rl *qc.QdrantResourceExhaustedError
	if errors.As(err, &rl) {
		e.Code = codes.ResourceExhausted
		e.RetryAfter = time.Duration(rl.RetryAfterS) * time.Second
		e.Err = status.Error(codes.ResourceExhausted, rl.Reason)
	}
	return e
}
