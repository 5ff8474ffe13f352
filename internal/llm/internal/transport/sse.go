package transport

import (
	"bufio"
	"bytes"
	"io"
)

// Event is one server-sent event.
type Event struct {
	Name string // the "event:" field, "" when the server sent none
	Data []byte // the "data:" lines, joined by "\n"
}

// sseReader reads server-sent events as specified by the WHATWG HTML
// standard: "field: value" lines, events ended by a blank line, ":" comments.
type sseReader struct {
	r *bufio.Reader
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 32<<10)}
}

// next returns the next event that carries data. It returns io.EOF when the
// stream ends cleanly and io.ErrUnexpectedEOF when it ends inside a line. An
// event whose blank terminating line is missing at the end of the stream is
// still returned.
func (s *sseReader) next() (Event, error) {
	var (
		ev      Event
		data    bytes.Buffer
		hasData bool
	)
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return Event{}, io.ErrUnexpectedEOF
			}
			if err == io.EOF && hasData {
				ev.Data = data.Bytes()
				return ev, nil
			}
			return Event{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if hasData {
				ev.Data = data.Bytes()
				return ev, nil
			}
			ev = Event{}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Name = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		}
		// Comments (empty field name), "id" and "retry" are ignored.
	}
}
