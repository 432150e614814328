package bundle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// ErrCorrupt marks payload bytes that cannot be decoded: truncated, a length
// that runs past the end, or a value out of range. Decoders wrap it so callers
// can tell a bad file from an I/O failure with errors.Is.
var ErrCorrupt = errors.New("corrupt payload")

// Enc appends little-endian values to a byte slice. The learners use it for
// their MarshalBinary so every payload section shares one hand-checked format
// instead of gob, whose decoder trusts lengths it reads and can be made to
// allocate without bound by a hostile file.
type Enc struct{ B []byte }

// U8 appends one byte.
func (e *Enc) U8(v uint8) { e.B = append(e.B, v) }

// U32 appends a uint32.
func (e *Enc) U32(v uint32) { e.B = binary.LittleEndian.AppendUint32(e.B, v) }

// U64 appends a uint64.
func (e *Enc) U64(v uint64) { e.B = binary.LittleEndian.AppendUint64(e.B, v) }

// Int appends an int as a uint64 (two's complement).
func (e *Enc) Int(v int) { e.U64(uint64(v)) }

// F32 appends a float32.
func (e *Enc) F32(v float32) { e.U32(math.Float32bits(v)) }

// F64 appends a float64.
func (e *Enc) F64(v float64) { e.U64(math.Float64bits(v)) }

// Bytes appends a length-prefixed byte slice.
func (e *Enc) Bytes(b []byte) { e.U64(uint64(len(b))); e.B = append(e.B, b...) }

// String appends a length-prefixed string.
func (e *Enc) String(s string) { e.U64(uint64(len(s))); e.B = append(e.B, s...) }

// F32s appends a length-prefixed float32 slice.
func (e *Enc) F32s(v []float32) {
	e.U64(uint64(len(v)))
	for _, x := range v {
		e.F32(x)
	}
}

// F64s appends a length-prefixed float64 slice.
func (e *Enc) F64s(v []float64) {
	e.U64(uint64(len(v)))
	for _, x := range v {
		e.F64(x)
	}
}

// U32s appends a length-prefixed uint32 slice.
func (e *Enc) U32s(v []uint32) {
	e.U64(uint64(len(v)))
	for _, x := range v {
		e.U32(x)
	}
}

// Vector appends a sparse feature vector.
func (e *Enc) Vector(v feature.Vector) { e.U32s(v.Idx); e.F32s(v.Val) }

// Dec reads what Enc wrote. The first failure sticks in Err and every later
// read returns zero values, so decoders read a whole section and check Err
// once. A length prefix is checked against the bytes left before anything is
// allocated, so a corrupt file can neither panic nor exhaust memory.
type Dec struct {
	B   []byte
	Err error
}

func (d *Dec) fail(what string) {
	if d.Err == nil {
		d.Err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
}

func (d *Dec) take(n int, what string) []byte {
	if d.Err != nil {
		return nil
	}
	if n < 0 || n > len(d.B) {
		d.fail("truncated " + what)
		return nil
	}
	b := d.B[:n]
	d.B = d.B[n:]
	return b
}

// U8 reads one byte.
func (d *Dec) U8() uint8 {
	b := d.take(1, "byte")
	if b == nil {
		return 0
	}
	return b[0]
}

// U32 reads a uint32.
func (d *Dec) U32() uint32 {
	b := d.take(4, "uint32")
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// U64 reads a uint64.
func (d *Dec) U64() uint64 {
	b := d.take(8, "uint64")
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// Int reads an int and checks it lies in [lo, hi]; what names the field in the
// error.
func (d *Dec) Int(lo, hi int, what string) int {
	v := int64(d.U64())
	if d.Err != nil {
		return 0
	}
	if v < int64(lo) || v > int64(hi) {
		d.fail(fmt.Sprintf("%s %d out of range [%d, %d]", what, v, lo, hi))
		return 0
	}
	return int(v)
}

// F32 reads a float32.
func (d *Dec) F32() float32 { return math.Float32frombits(d.U32()) }

// F64 reads a float64.
func (d *Dec) F64() float64 { return math.Float64frombits(d.U64()) }

// length reads a length prefix for elements of size bytes each and checks
// that many bytes remain.
func (d *Dec) length(size int, what string) int {
	n := d.U64()
	if d.Err != nil {
		return 0
	}
	if n > uint64(len(d.B)/size) {
		d.fail(fmt.Sprintf("%s length %d exceeds the %d bytes left", what, n, len(d.B)))
		return 0
	}
	return int(n)
}

// Bytes reads a length-prefixed byte slice (a copy).
func (d *Dec) Bytes() []byte {
	n := d.length(1, "bytes")
	b := d.take(n, "bytes")
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// String reads a length-prefixed string.
func (d *Dec) String() string {
	n := d.length(1, "string")
	return string(d.take(n, "string"))
}

// F32s reads a length-prefixed float32 slice.
func (d *Dec) F32s() []float32 {
	n := d.length(4, "float32 slice")
	if d.Err != nil {
		return nil
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = d.F32()
	}
	return v
}

// F64s reads a length-prefixed float64 slice.
func (d *Dec) F64s() []float64 {
	n := d.length(8, "float64 slice")
	if d.Err != nil {
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = d.F64()
	}
	return v
}

// U32s reads a length-prefixed uint32 slice.
func (d *Dec) U32s() []uint32 {
	n := d.length(4, "uint32 slice")
	if d.Err != nil {
		return nil
	}
	v := make([]uint32, n)
	for i := range v {
		v[i] = d.U32()
	}
	return v
}

// Vector reads a sparse vector and checks it against dim: indices strictly
// ascending and below dim, as many values as indices.
func (d *Dec) Vector(dim int) feature.Vector {
	v := feature.Vector{Idx: d.U32s(), Val: d.F32s()}
	if d.Err != nil {
		return feature.Vector{}
	}
	if len(v.Idx) != len(v.Val) {
		d.fail("vector with different index and value counts")
		return feature.Vector{}
	}
	for i, ix := range v.Idx {
		if int64(ix) >= int64(dim) || (i > 0 && ix <= v.Idx[i-1]) {
			d.fail("vector indices not ascending below the dimension")
			return feature.Vector{}
		}
	}
	return v
}

// Done reports Err, or an error if bytes are left over: a payload section that
// decodes with bytes to spare was written by a different format.
func (d *Dec) Done(what string) error {
	if d.Err != nil {
		return fmt.Errorf("decode %s: %w", what, d.Err)
	}
	if len(d.B) != 0 {
		return fmt.Errorf("decode %s: %w: %d trailing bytes", what, ErrCorrupt, len(d.B))
	}
	return nil
}
