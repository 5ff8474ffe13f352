package anthropic

import (
	"encoding/json"
	"testing"

	"github.com/hermhq/herm/internal/llm"
)

// An image goes as a base64 image block before the text.
func TestEncodeImage(t *testing.T) {
	c := New("k")
	b, err := c.encode(llm.Request{Model: "claude-sonnet-4", Messages: []llm.Message{
		{Role: llm.RoleUser, Content: "what is this?", Images: []llm.Image{{MediaType: "image/jpeg", Data: []byte{1, 2, 3}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := `[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"AQID"}},{"type":"text","text":"what is this?","cache_control":{"type":"ephemeral"}}]`
	if string(got.Messages[0].Content) != want {
		t.Fatalf("content %s", got.Messages[0].Content)
	}
}
