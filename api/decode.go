package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// decodeJSON reads r's body, at most limit bytes, and decodes it into dst,
// which must be a pointer to a struct. Every failure is an *Error with a 4xx
// status.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	if r.Body == nil {
		return parseJSON(nil, dst)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge(limit)
		}
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Message: "could not read request body", Err: err}
	}
	return parseJSON(body, dst)
}

func tooLarge(limit int64) *Error {
	return NewError(CodeBodyTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", limit))
}

// checkContentType accepts application/json, with an optional UTF-8
// charset, or no Content-Type at all (curl -d and many scripts omit it).
func checkContentType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return NewError(CodeUnsupportedMediaType, "Content-Type must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return NewError(CodeUnsupportedMediaType, "charset must be utf-8")
	}
	return nil
}

// parseJSON decodes body, which must hold exactly one JSON value with no
// fields unknown to dst, into dst. It checks UTF-8 itself because
// encoding/json silently replaces invalid bytes with U+FFFD.
func parseJSON(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return BadRequest(CodeInvalidUTF8, "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	end := dec.InputOffset()
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		return BadRequest(CodeInvalidJSON, fmt.Sprintf("unexpected data after the JSON value at byte %d", end))
	}
	return nil
}

// jsonError turns an error from json.Decoder.Decode into a 400 *Error.
func jsonError(err error) error {
	if errors.Is(err, io.EOF) {
		return BadRequest(CodeInvalidJSON, "request body is empty")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return BadRequest(CodeInvalidJSON, "malformed JSON: unexpected end of input")
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return BadRequest(CodeInvalidJSON, fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error()))
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return BadRequest(CodeInvalidArgument, fmt.Sprintf("request body must be a JSON object, not %s", te.Value))
		}
		return BadRequest(CodeInvalidArgument, fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonType(te.Type), te.Value))
	}
	// encoding/json has no type for this one; its text is stable.
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return BadRequest(CodeUnknownField, "unknown field "+field)
	}
	if _, ok := errors.AsType[*json.InvalidUnmarshalError](err); ok {
		return err // a bug in the caller: internal
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: "malformed JSON", Err: err}
}

// jsonType names the JSON type that decodes into t, with an article.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonType(t.Elem())
	}
	return "a " + t.String()
}
