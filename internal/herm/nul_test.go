package herm

import (
	"context"
	"strings"
	"testing"
)

// Text with a NUL character is refused where it is taken in (no text
// column of PostgreSQL stores one), naming the field.
func TestNULRefused(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	r := Rules{DefaultModel: "demo/demo"}
	for field, in := range map[string]*DeploymentInput{
		"customer_id":   {CustomerID: str("c\x00"), Name: str("n"), SystemPrompt: str("p")},
		"name":          {CustomerID: str("c"), Name: str("n\x00"), SystemPrompt: str("p")},
		"system_prompt": {CustomerID: str("c"), Name: str("n"), SystemPrompt: str("be\x00 nice")},
	} {
		_, err := NewDeployment(context.Background(), in, r)
		if ErrorCode(err) != EInvalid || !strings.Contains(ErrorMessage(err), field) || !strings.Contains(ErrorMessage(err), "NUL") {
			t.Errorf("%s: %v", field, err)
		}
	}
	if err := ValidateMessage("hello\x00", nil); ErrorCode(err) != EInvalid || !strings.Contains(ErrorMessage(err), "content") {
		t.Errorf("content: %v", err)
	}
	if err := ValidateThreadTitle("t\x00"); ErrorCode(err) != EInvalid {
		t.Errorf("title: %v", err)
	}
}
