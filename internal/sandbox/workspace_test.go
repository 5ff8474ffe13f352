package sandbox

import (
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
)

// A file name up to the file system's 255 bytes can be written (the
// atomic write's temporary name included); a longer one is a validation
// error naming the path, never an internal error.
func TestLongNames(t *testing.T) {
	ws, err := OpenWorkspace(t.TempDir(), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, name := range []string{strings.Repeat("a", 236), strings.Repeat("b", 255), strings.Repeat("é", 127) + "x"} {
		if _, err := ws.WriteFile("d/"+name, strings.NewReader("x")); err != nil {
			t.Errorf("%d-byte name: %v", len(name), err)
		}
		if b, err := ws.ReadFile("d/"+name, 0); err != nil || string(b) != "x" {
			t.Errorf("%d-byte name read back: %q %v", len(name), b, err)
		}
	}
	for _, p := range []string{strings.Repeat("c", 256), "d/" + strings.Repeat("é", 128), strings.Repeat("c", 256) + "/f"} {
		_, err := ws.WriteFile(p, strings.NewReader("x"))
		if !herm.IsCode(err, herm.EInvalid) || !strings.HasPrefix(herm.ErrorMessage(err), "path") {
			t.Errorf("write of a %d-byte path: %v", len(p), err)
		}
		if _, _, err := ws.List(p); !herm.IsCode(err, herm.EInvalid) {
			t.Errorf("list of a %d-byte path: %v", len(p), err)
		}
		if err := ws.Remove(p); !herm.IsCode(err, herm.EInvalid) {
			t.Errorf("remove of a %d-byte path: %v", len(p), err)
		}
	}
}
