package openai

import (
	"encoding/json"
	"testing"

	"github.com/hermhq/herm/internal/llm"
)

// An image goes as an image_url part with a data URL, beside the text.
func TestEncodeImage(t *testing.T) {
	c := New("k")
	b, err := c.encode(llm.Request{Model: "gpt-4o", Messages: []llm.Message{
		{Role: llm.RoleUser, Content: "what is this?", Images: []llm.Image{{MediaType: "image/png", Data: []byte{1, 2, 3}}}},
		{Role: llm.RoleAssistant, Content: "a dot"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := `[{"text":"what is this?","type":"text"},{"image_url":{"url":"data:image/png;base64,AQID"},"type":"image_url"}]`
	if string(got.Messages[0].Content) != want {
		t.Fatalf("user content %s", got.Messages[0].Content)
	}
	if string(got.Messages[1].Content) != `"a dot"` {
		t.Fatalf("assistant content %s", got.Messages[1].Content)
	}
}
