package wire

import (
	"encoding/binary"
)

// AppendBytes appends b as a uvarint length and its bytes.
func AppendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// AppendString appends s as a uvarint length and its bytes.
func AppendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Decoder reads a record. The first error sticks: later reads return zero
// values, and Err reports it.
type Decoder struct {
	b     []byte
	err   error
	short error
}

// NewDecoder reads b; short is the error a read past its end reports.
func NewDecoder(b []byte, short error) *Decoder {
	return &Decoder{b: b, short: short}
}

// Err reports the first error.
func (d *Decoder) Err() error { return d.err }

// Len reports how many bytes are left.
func (d *Decoder) Len() int { return len(d.b) }

// Fail records err unless an error came first, and stops further reads.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *Decoder) next(n int) []byte {
	if len(d.b) < n {
		d.Fail(d.short)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if v := d.next(1); v != nil {
		return v[0]
	}
	return 0
}

// Uint32 reads 4 bytes, little-endian.
func (d *Decoder) Uint32() uint32 {
	if v := d.next(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

// Uint64 reads 8 bytes, little-endian.
func (d *Decoder) Uint64() uint64 {
	if v := d.next(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 { return varint(d, binary.Uvarint) }

// Varint reads a zigzag varint.
func (d *Decoder) Varint() int64 { return varint(d, binary.Varint) }

// varint reads one varint with read (binary.Uvarint or binary.Varint).
func varint[T uint64 | int64](d *Decoder, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.Fail(d.short)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Count reads a uvarint count of items of at least size bytes each; a
// count that cannot fit in what is left is an error, so it never sizes an
// allocation beyond the record.
func (d *Decoder) Count(size int) int {
	n := d.Uvarint()
	if n > uint64(d.Len()/size) {
		d.Fail(d.short)
		return 0
	}
	return int(n)
}

// Bytes reads a uvarint length and that many bytes, which alias the
// record.
func (d *Decoder) Bytes() []byte {
	n := d.Uvarint()
	if n > uint64(d.Len()) {
		d.Fail(d.short)
		return nil
	}
	return d.next(int(n))
}

// String reads what AppendString wrote, as a copy.
func (d *Decoder) String() string { return string(d.Bytes()) }
