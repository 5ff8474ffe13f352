package agent

import (
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/llm"
)

// A request keeps only the newest images within its limits; the messages
// whose images were dropped say so.
func TestLimitImages(t *testing.T) {
	img := func(n int) llm.Image { return llm.Image{MediaType: "image/png", Data: make([]byte, n)} }
	var msgs []llm.Message
	for range 6 {
		msgs = append(msgs, llm.Message{Role: llm.RoleTool, Content: "shot", Images: []llm.Image{img(10), img(10)}})
	}
	msgs = limitImages(msgs)
	total := 0
	for i, m := range msgs {
		total += len(m.Images)
		dropped := strings.Contains(m.Content, "no longer shown")
		if (i < 2) != dropped || (i >= 2 && len(m.Images) != 2) {
			t.Errorf("message %d: %d images, content %q", i, len(m.Images), m.Content)
		}
	}
	if total != maxRequestImages {
		t.Fatalf("%d images kept, want %d", total, maxRequestImages)
	}
	// The byte limit: one huge image of the newest message, nothing older.
	msgs = []llm.Message{{Role: llm.RoleUser, Images: []llm.Image{img(10)}}, {Role: llm.RoleTool, Images: []llm.Image{img(maxRequestImageBytes)}}}
	msgs = limitImages(msgs)
	if len(msgs[0].Images) != 0 || len(msgs[1].Images) != 1 {
		t.Fatalf("byte limit: %d, %d", len(msgs[0].Images), len(msgs[1].Images))
	}
}
