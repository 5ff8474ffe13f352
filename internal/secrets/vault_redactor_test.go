package secrets

import (
	"context"
	"testing"

	"github.com/hermhq/herm/internal/herm"
)

// A deployment's redactor hides the values of its secrets, and of those
// only: another customer's secret is not revealed to it.
func TestVaultRedactor(t *testing.T) {
	v, _ := vault(t, make([]byte, 32))
	ctx := context.Background()
	mine, err := v.Create(ctx, Input{Name: "mine", Value: "my-value-123", CustomerID: "cus_1", AllowedHosts: []string{"x.com"}})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := v.Create(ctx, Input{Name: "theirs", Value: "their-value-456", CustomerID: "cus_2", AllowedHosts: []string{"x.com"}})
	if err != nil {
		t.Fatal(err)
	}
	d := &herm.Deployment{CustomerID: "cus_1", Secrets: map[string]string{"MINE": mine.ID, "THEIRS": theirs.ID, "GONE": "sec_nope"}}
	got := v.Redactor(ctx, d).Replace("a my-value-123 b their-value-456")
	if got != "a [REDACTED:MINE] b their-value-456" {
		t.Fatalf("redacted: %q", got)
	}
}
