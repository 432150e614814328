package feature

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The tf-idf binary format, version 1, little endian:
//
//	magic "SYTF" | version u16 | dim u32 | word min,max u8 u8 | char min,max u8 u8 |
//	min_df u32 | training texts u32 | n u32 | n x (bucket u32, df u32) | crc32 u32
//
// Only buckets with df > 0 are stored, in ascending order; the crc32 (IEEE)
// covers everything before it. The idf is recomputed on load, so a bundle
// cannot carry weights that disagree with its document frequencies.
const (
	tfidfMagic   = "SYTF"
	tfidfVersion = 1
	tfidfHeader  = 4 + 2 + 4 + 4 + 4 + 4 + 4
)

// MarshalBinary encodes the fitted featurizer; the output is deterministic.
func (t *TFIDF) MarshalBinary() ([]byte, error) {
	n := 0
	for _, d := range t.df {
		if d > 0 {
			n++
		}
	}
	b := make([]byte, 0, tfidfHeader+8*n+4)
	b = append(b, tfidfMagic...)
	b = binary.LittleEndian.AppendUint16(b, tfidfVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(t.dim))
	b = append(b, byte(t.wordMin), byte(t.wordMax), byte(t.charMin), byte(t.charMax))
	b = binary.LittleEndian.AppendUint32(b, uint32(t.minDF))
	b = binary.LittleEndian.AppendUint32(b, uint32(t.nDocs))
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	for i, d := range t.df {
		if d > 0 {
			b = binary.LittleEndian.AppendUint32(b, uint32(i))
			b = binary.LittleEndian.AppendUint32(b, d)
		}
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return b, nil
}

func unmarshalTFIDF(b []byte) (*TFIDF, error) {
	if len(b) < tfidfHeader+4 {
		return nil, fmt.Errorf("tfidf: truncated: %d bytes, header needs %d", len(b), tfidfHeader+4)
	}
	if string(b[:4]) != tfidfMagic {
		return nil, errors.New("tfidf: bad magic, not a tf-idf featurizer")
	}
	le := binary.LittleEndian
	if v := le.Uint16(b[4:]); v != tfidfVersion {
		return nil, fmt.Errorf("tfidf: unknown format version %d (this build reads %d)", v, tfidfVersion)
	}
	n := le.Uint32(b[22:])
	if want := uint64(tfidfHeader) + 8*uint64(n) + 4; uint64(len(b)) != want {
		return nil, fmt.Errorf("tfidf: %d bytes for %d buckets, want %d (truncated or padded)", len(b), n, want)
	}
	body, sum := b[:len(b)-4], le.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, errors.New("tfidf: checksum mismatch, data corrupt")
	}
	dim := le.Uint32(b[6:])
	if dim < minDim || dim > maxDim {
		return nil, fmt.Errorf("tfidf: dim %d outside [%d, %d]", dim, minDim, maxDim)
	}
	t := &TFIDF{
		dim:     int(dim),
		wordMin: int(b[10]), wordMax: int(b[11]),
		charMin: int(b[12]), charMax: int(b[13]),
		minDF: int(le.Uint32(b[14:])),
		nDocs: int(le.Uint32(b[18:])),
	}
	if err := t.checkParams(); err != nil {
		return nil, err
	}
	if t.nDocs == 0 {
		return nil, errors.New("tfidf: fitted on zero texts")
	}
	t.df = make([]uint32, t.dim)
	prev := -1
	for i := range int(n) {
		off := tfidfHeader + 8*i
		idx, d := le.Uint32(b[off:]), le.Uint32(b[off+4:])
		if int64(idx) <= int64(prev) || idx >= dim {
			return nil, fmt.Errorf("tfidf: bucket %d out of order or outside dim %d", idx, dim)
		}
		if d == 0 || d > uint32(t.nDocs) {
			return nil, fmt.Errorf("tfidf: bucket %d has document frequency %d, want 1..%d", idx, d, t.nDocs)
		}
		t.df[idx] = d
		prev = int(idx)
	}
	t.computeIDF()
	t.init()
	return t, nil
}
