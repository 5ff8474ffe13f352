package secrets

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
)

// A value the vault revealed never reaches the log, wherever it is in a
// line; values it did not reveal, and short ones, are left alone.
func TestLogRedaction(t *testing.T) {
	seen := NewSeen()
	v, _ := vault(t, bytes.Repeat([]byte{5}, 32))
	v.seen = seen
	ctx := context.Background()
	s, err := v.Create(ctx, Input{Name: "stripe", Value: "sk_live_canary123", CustomerID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logger := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil), seen))
	early := logger.With("bound_early", "sk_live_canary123") // before the reveal
	logger.Info("before any reveal: sk_live_canary123")
	if !strings.Contains(buf.String(), "sk_live_canary123") {
		t.Fatal("a value never revealed was changed (the test would prove nothing)")
	}
	buf.Reset()
	d := &herm.Deployment{CustomerID: "c", Secrets: map[string]string{"STRIPE": s.ID}}
	if _, _, err := v.Reveal(ctx, d, "STRIPE"); err != nil {
		t.Fatal(err)
	}
	seen.add("abc", "short")
	logger.With("preset", "key sk_live_canary123").WithGroup("g").Info("calling with sk_live_canary123",
		"header", "Bearer sk_live_canary123",
		"err", errors.New("upstream said: bad key sk_live_canary123"),
		slog.Group("req", "auth", "sk_live_canary123", "n", 3),
		"word", "abc", "raw", []byte("x sk_live_canary123"))
	early.Info("later")
	out := buf.String()
	if strings.Contains(out, "sk_live_canary123") {
		t.Fatalf("the log holds the value: %s", out)
	}
	for _, want := range []string{`"msg":"calling with [REDACTED:stripe]"`, `"preset":"key [REDACTED:stripe]"`, `"header":"Bearer [REDACTED:stripe]"`,
		`"err":"upstream said: bad key [REDACTED:stripe]"`, `"auth":"[REDACTED:stripe]"`, `"n":3`, `"word":"abc"`,
		`"raw":"x [REDACTED:stripe]"`, `"bound_early":"[REDACTED:stripe]"`, `"g":{"header"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
}
