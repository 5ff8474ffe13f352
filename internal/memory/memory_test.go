package memory

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

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
	a, created, err := s.Create(ws, "  Likes short answers.  ", SourceAPI)
	if err != nil || !created || a.Content != "Likes short answers." || a.Source != SourceAPI {
		t.Fatalf("create: %+v %v", a, err)
	}
	if again, created, _ := s.Create(ws, "likes short answers.", SourceAgent); again.ID != a.ID || created {
		t.Fatal("the same fact was stored twice")
	}
	b, _, _ := s.Create(ws, "Works in Berlin time.", SourceAgent)
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
	// A broken one can be deleted all the same.
	if err := s.Delete(ws, "mem_01JNFRR1MSBEFN4B44HKWMD5YD"); err != nil {
		t.Fatalf("deleting a broken memory: %v", err)
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
	if p := Prompt(many); len(p) > PromptBudget+400 || !strings.Contains(p, "more memories are not shown") {
		t.Fatalf("prompt of %d bytes", len(p))
	}
}

// Files planted by the agent's shell are read within the rules: valid
// text cut to MaxContent, a known source, times.
func TestPlantedFiles(t *testing.T) {
	ws, err := sandbox.OpenWorkspace(t.TempDir(), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	s := New(herm.NewIDGen(nil), nil)
	id := "mem_01JNFRR1MSBEFN4B44HKWMD5YD"
	body := "---\r\nsource: evil\r\n---\r\n" + strings.Repeat("a\xff", 3000)
	if _, err := ws.WriteFile(Dir+"/"+id+".md", strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	m, err := s.Get(ws, id)
	if err != nil || m.Source != SourceAgent || utf8.RuneCountInString(m.Content) != MaxContent || !utf8.ValidString(m.Content) || m.CreatedAt.IsZero() {
		t.Fatalf("planted: %v, source %q, %d runes", err, m.Source, utf8.RuneCountInString(m.Content))
	}
	// A huge newest memory does not hide the others from the prompt.
	small, _, _ := s.Create(ws, "Small fact.", SourceAPI)
	huge := Memory{ID: "mem_ZZZZZZZZZZZZZZZZZZZZZZZZZZ", Content: strings.Repeat("界", MaxContent)}
	p := Prompt([]Memory{huge, huge, huge, small})
	if !strings.Contains(p, "Small fact.") || utf8.RuneCountInString(p) > PromptBudget+400 {
		t.Fatalf("prompt (%d runes) lost the small fact", utf8.RuneCountInString(p))
	}
}

// Writes are whole: the cap and duplicates hold under concurrent writers,
// and an update racing a deletion does not bring the memory back.
func TestConcurrentWrites(t *testing.T) {
	ws, err := sandbox.OpenWorkspace(t.TempDir(), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	s := New(herm.NewIDGen(nil), nil)
	for i := range MaxMemories - 1 {
		if _, _, err := s.Create(ws, fmt.Sprintf("fact %d", i), SourceAPI); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { _, _, _ = s.Create(ws, fmt.Sprintf("new fact %d", i), SourceAPI) })
		wg.Go(func() { _, _, _ = s.Create(ws, "the same fact", SourceAPI) })
	}
	wg.Wait()
	if list, _ := s.List(ws, ""); len(list) != MaxMemories {
		t.Fatalf("%d memories, the cap is %d", len(list), MaxMemories)
	}
	for range 20 {
		m, _, err := s.Create(ws, "fact 0", SourceAPI) // exists
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = s.Delete(ws, m.ID) })
		wg.Go(func() { _, _ = s.Update(ws, m.ID, "fact 0") })
		wg.Wait()
		if _, err := s.Get(ws, m.ID); err == nil {
			t.Fatal("an update brought a deleted memory back")
		}
		if _, _, err := s.Create(ws, "fact 0", SourceAPI); err != nil {
			t.Fatal(err)
		}
	}
}
