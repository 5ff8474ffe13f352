package secrets

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
)

// MinRedactLen is the shortest value redacted: shorter ones would mangle
// ordinary text.
const MinRedactLen = 4

// maxSeen bounds the values a Seen remembers (the oldest go first).
const maxSeen = 100_000

// Seen is every secret value this process has revealed (to the egress
// proxy, MCP headers, the agent's redaction), so that a log line can never
// carry one: LogHandler replaces them with [REDACTED:NAME]. A value the
// process never revealed cannot be in its logs.
type Seen struct {
	mu    sync.Mutex
	names map[string]string // value → secret name
	order []string
	rep   *strings.Replacer // nil: rebuild
}

// NewSeen returns an empty Seen.
func NewSeen() *Seen { return &Seen{names: map[string]string{}} }

func (s *Seen) add(value, name string) {
	if s == nil || len(value) < MinRedactLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.names[value]; ok && old == name {
		return
	}
	if _, ok := s.names[value]; !ok {
		s.order = append(s.order, value)
	}
	s.names[value] = name
	for len(s.order) > maxSeen {
		delete(s.names, s.order[0])
		s.order = s.order[1:]
	}
	s.rep = nil
}

// Replace returns text with every seen value replaced.
func (s *Seen) Replace(text string) string {
	if s == nil {
		return text
	}
	s.mu.Lock()
	if len(s.names) == 0 {
		s.mu.Unlock()
		return text
	}
	if s.rep == nil {
		values := make([]string, 0, len(s.names))
		for v := range s.names {
			values = append(values, v)
		}
		// Longest first: a value that contains another is replaced whole.
		sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
		args := make([]string, 0, 2*len(values))
		for _, v := range values {
			args = append(args, v, "[REDACTED:"+s.names[v]+"]")
		}
		s.rep = strings.NewReplacer(args...)
	}
	rep := s.rep
	s.mu.Unlock()
	return rep.Replace(text)
}

// LogHandler wraps h so that no revealed secret value reaches the log: in
// the message, or in any attribute (errors, byte slices and other values
// are formatted first when they would carry one), including attributes
// bound before the value was revealed.
func LogHandler(h slog.Handler, s *Seen) slog.Handler { return &logHandler{h: h, s: s} }

type logHandler struct {
	h   slog.Handler // the wrapped handler, with nothing bound
	s   *Seen
	ops []boundOp // WithGroup and WithAttrs calls, applied at each record
}

// boundOp is a WithGroup (group != "") or a WithAttrs call.
type boundOp struct {
	group string
	attrs []slog.Attr
}

func (l *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	h := l.h
	for _, op := range l.ops {
		if op.group != "" {
			h = h.WithGroup(op.group)
			continue
		}
		attrs := make([]slog.Attr, len(op.attrs))
		for i, a := range op.attrs {
			attrs[i] = l.attr(a)
		}
		h = h.WithAttrs(attrs)
	}
	out := slog.NewRecord(r.Time, r.Level, l.s.Replace(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(l.attr(a))
		return true
	})
	return h.Handle(ctx, out)
}

func (l *logHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, l.s.Replace(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]slog.Attr, len(attrs))
		for i, g := range attrs {
			out[i] = l.attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		var text string
		if b, ok := v.Any().([]byte); ok {
			text = string(b)
		} else {
			text = fmt.Sprint(v.Any())
		}
		if red := l.s.Replace(text); red != text {
			return slog.String(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (l *logHandler) with(op boundOp) *logHandler {
	return &logHandler{h: l.h, s: l.s, ops: append(slices.Clip(l.ops), op)}
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return l
	}
	return l.with(boundOp{attrs: attrs})
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return l
	}
	return l.with(boundOp{group: name})
}
