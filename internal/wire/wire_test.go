package wire

import (
	"errors"
	"math"
	"testing"
)

var errShort = errors.New("short")

func TestRoundTrip(t *testing.T) {
	b := AppendString(nil, "订单")
	b = AppendBytes(b, []byte{1, 2})
	b = append(b, 7)
	b = appendVarints(b)
	d := NewDecoder(b, errShort)
	if s := d.String(); s != "订单" {
		t.Errorf("String = %q", s)
	}
	if v := d.Bytes(); string(v) != "\x01\x02" {
		t.Errorf("Bytes = %v", v)
	}
	if v := d.Byte(); v != 7 {
		t.Errorf("Byte = %d", v)
	}
	if v := d.Varint(); v != -5 {
		t.Errorf("Varint = %d", v)
	}
	if v := d.Uint64(); v != math.MaxUint64 {
		t.Errorf("Uint64 = %d", v)
	}
	if d.Err() != nil || d.Len() != 0 {
		t.Errorf("err %v, %d bytes left", d.Err(), d.Len())
	}
}

func appendVarints(b []byte) []byte {
	b = append(b, 9) // zigzag -5
	return append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
}

// A truncated or lying record fails with the decoder's error, the first
// error sticks, and later reads give zero values.
func TestErrors(t *testing.T) {
	d := NewDecoder([]byte{200, 1, 'x'}, errShort) // a length of 200, 1 byte left
	if v := d.Bytes(); v != nil || !errors.Is(d.Err(), errShort) {
		t.Fatalf("Bytes past the end: %v, err %v", v, d.Err())
	}
	d.Fail(errors.New("later"))
	if !errors.Is(d.Err(), errShort) {
		t.Errorf("a later error replaced the first: %v", d.Err())
	}
	if d.Byte() != 0 || d.Uint32() != 0 || d.Len() != 0 {
		t.Error("reads after an error returned data")
	}

	d = NewDecoder([]byte{5, 0, 0, 0, 0}, errShort) // 5 items of 4 bytes in 4 bytes
	if n := d.Count(4); n != 0 || d.Err() == nil {
		t.Errorf("Count = %d, err %v; want 0 and an error", n, d.Err())
	}
	d = NewDecoder([]byte{1, 0, 0, 0, 42}, errShort)
	if n := d.Count(4); n != 1 || d.Uint32() != 42<<24 || d.Err() != nil {
		t.Errorf("Count(4) of one item: n %d, err %v", n, d.Err())
	}
}
