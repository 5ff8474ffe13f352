package memory

import (
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
)

func TestStore(t *testing.T) {
	ws, err := sandbox.OpenWorkspace(t.TempDir(), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	s := New(herm.NewIDGen(nil), nil)
	if list, err := s.List(ws, ""); err != nil || len(list) != 0 {
		t.Fatalf("empty: %v %v", list, err)
	}
	a, err := s.Create(ws, "  Likes short answers.  ", SourceAPI)
	if err != nil || a.Content != "Likes short answers." || a.Source != SourceAPI {
		t.Fatalf("create: %+v %v", a, err)
	}
	if again, _ := s.Create(ws, "likes short answers.", SourceAgent); again.ID != a.ID {
		t.Fatal("the same fact was stored twice")
	}
	b, _ := s.Create(ws, "Works in Berlin time.", SourceAgent)
	got, err := s.Get(ws, a.ID)
	if err != nil || got != a {
		t.Fatalf("get: %+v %v", got, err)
	}
	// Files that are not memories are skipped; odd ids are not found.
	if _, err := ws.WriteFile(Dir+"/notes.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.WriteFile(Dir+"/mem_01JNFRR1MSBEFN4B44HKWMD5YD.md", strings.NewReader("broken")); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ws, "")
	if err != nil || len(list) != 2 || list[0].ID != b.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, id := range []string{"../../etc/passwd", "mem_x", "notes"} {
		if _, err := s.Get(ws, id); !herm.IsCode(err, herm.ENotFound) {
			t.Errorf("Get(%q): %v", id, err)
		}
	}
	if list, _ := s.List(ws, "berlin"); len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("q: %+v", list)
	}
	if _, err := s.Update(ws, a.ID, strings.Repeat("x", MaxContent+1)); herm.ErrorCode(err) != herm.EInvalid {
		t.Fatalf("long update: %v", err)
	}
	if err := s.Delete(ws, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ws, a.ID); !herm.IsCode(err, herm.ENotFound) {
		t.Fatalf("second delete: %v", err)
	}
	p := Prompt([]Memory{b})
	if !strings.Contains(p, "Works in Berlin time.") || !strings.Contains(p, b.ID) {
		t.Fatalf("prompt %q", p)
	}
	var many []Memory
	for range 100 {
		many = append(many, Memory{ID: "mem_x", Content: strings.Repeat("y", 100)})
	}
	if p := Prompt(many); len(p) > PromptBudget+200 || !strings.Contains(p, "older memories are not shown") {
		t.Fatalf("prompt of %d bytes", len(p))
	}
}
