package provider

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// sseReader splits a text/event-stream body into events (WHATWG HTML, "server-
// sent events", section 9.2.6). It keeps what a gateway needs: the data of each
// event, byte-for-byte as sent, and its event name. Lines end in LF or CRLF; a
// lone CR as line end is not supported, as no LLM upstream sends it. Lines may
// be of any length: a line longer than the read buffer is assembled across
// reads instead of failing the way a bufio.Scanner with a fixed limit would.
type sseReader struct {
	br *bufio.Reader
	// beforeWait, when set, runs before each read from the body: the moment
	// the reader has no buffered event left and may wait on the upstream.
	beforeWait func()
	long       []byte // assembles a line longer than br's buffer
	// Event is the name from the last event's "event:" field, "" for none.
	event []byte
}

// sseBufSize is the read buffer of a stream. LLM events are a few hundred
// bytes; a longer line is assembled across reads.
const sseBufSize = 4 << 10

// sseBufs recycles stream read buffers: a fresh one per stream was half the
// garbage a streamed request made.
var sseBufs = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, sseBufSize) }}

func newSSEReader(r io.Reader) *sseReader {
	s := &sseReader{}
	s.br = sseBufs.Get().(*bufio.Reader)
	s.br.Reset(waitReader{s, r})
	return s
}

// release returns the read buffer to the pool; the reader is unusable
// afterwards (next returns errSSEReleased).
func (s *sseReader) release() {
	if s.br == nil {
		return
	}
	s.br.Reset(nil)
	sseBufs.Put(s.br)
	s.br = nil
	s.long = nil
}

var errSSEReleased = errors.New("event stream already closed")

// waitReader tells its sseReader before every read of the body.
type waitReader struct {
	s *sseReader
	r io.Reader
}

func (w waitReader) Read(p []byte) (int, error) {
	if w.s.beforeWait != nil {
		w.s.beforeWait()
	}
	return w.r.Read(p)
}

// next returns the data of the next event, multi-line data joined with "\n" as
// the spec says. Comments (": keep-alive"), id: and retry: fields and events
// without data are skipped. At the end of the body it returns io.EOF; an event
// cut off by the end of the body without its blank line is still returned, as
// that is what an upstream meant that forgot the last newline. The returned
// slice is a fresh copy owned by the caller.
func (s *sseReader) next() (data []byte, err error) {
	if s.br == nil {
		return nil, errSSEReleased
	}
	hasData := false
	s.event = s.event[:0]
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && hasData && len(line) == 0 {
				return data, nil
			}
			if !errors.Is(err, io.EOF) || len(line) == 0 {
				return nil, err
			}
			// A last line without newline: process it, then report the event
			// (if any) and EOF on the following call.
		}
		if len(line) == 0 {
			if hasData {
				return data, nil
			}
			s.event = s.event[:0]
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				data = append(data, '\n')
				data = append(data, value...)
			} else {
				data = append(make([]byte, 0, len(value)), value...)
				hasData = true
			}
		case "event":
			s.event = append(s.event[:0], value...)
		}
		if err != nil { // the unterminated last line
			if hasData {
				return data, nil
			}
			return nil, err
		}
	}
}

// readLine returns the next line without its LF or CRLF. The slice is valid
// until the next call. At the end of the body it returns what remains with
// io.EOF.
func (s *sseReader) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.long = append(s.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = s.br.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
		if n > 0 && line[n-1] == '\r' {
			n--
		}
	}
	return line[:n], err
}
