package sandbox

import (
	"os/exec"
	"strings"
	"testing"
)

func TestValidJobID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"call_1": true, "toolu_01AB-cd": true, "_x": true, "call_1-2": true, strings.Repeat("a", 120): true,
		"": false, "-rf": false, "a.b": false, "../x": false, "a/b": false, "a b": false, "$(x)": false, "é": false,
		strings.Repeat("a", 121): false,
	} {
		if got := ValidJobID(id); got != want {
			t.Errorf("ValidJobID(%q) = %v", id, got)
		}
	}
}

// A job's command reaches the shell as it was given, whatever quotes it
// holds.
func TestShellQuote(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a b", `it's`, `'`, `"$HOME" $(id) \n`, "two\nlines", `'\''`} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("%q came out as %q (%v)", s, out, err)
		}
	}
}
