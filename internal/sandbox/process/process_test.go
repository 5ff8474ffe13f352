package process_test

import (
	"testing"

	"github.com/hermhq/herm/internal/sandbox/process"
	"github.com/hermhq/herm/internal/sandbox/sandboxtest"
)

// The process driver isolates nothing: it runs the suite without the
// escape tests.
func TestConformance(t *testing.T) {
	sandboxtest.Run(t, process.New(t.TempDir()), sandboxtest.Options{})
}
