package herm

import (
	"context"
	"strings"
	"testing"
)

// Validation asks Rules.Tools (the tool catalog) which built-in tools there
// are; without one it checks the names' form only.
func TestToolNamesFromRules(t *testing.T) {
	t.Parallel()
	create := func(r Rules, tools string) error {
		_, err := NewDeployment(context.Background(), input(t, withBase(`"tools":`+tools)), r)
		return err
	}
	r := testRules()
	err := create(r, `{"memory":{"enabled":false}}`)
	if err == nil || !strings.Contains(ErrorMessage(err), "ask_human, read_file, shell, subagents, todo, write_file") {
		t.Errorf("a tool the catalog does not have: %v", err)
	}
	r.Tools = nil
	if err := create(r, `{"memory":{"enabled":false},"browser":{"enabled":true}}`); err != nil {
		t.Errorf("without a catalog: %v", err)
	}
	if err := create(r, `{"No Tool":{"enabled":false}}`); err == nil {
		t.Errorf("without a catalog, a name of no tool's form was accepted")
	}
}
