// Package memory is a deployment's observational memory: durable facts
// about the customer (preferences, corrections, conventions), each a file
// in the workspace under .herm/memory/ (auditable and portable like any
// other file), written by the agent's memory tool or through the API, and
// shown to the agent at the start of each run.
package memory

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
)

// Limits and places.
const (
	Dir          = ".herm/memory"
	Prefix       = "mem_"
	MaxContent   = 2000 // characters of one memory
	MaxMemories  = 200  // per deployment
	PromptBudget = 6000 // characters of memories in a run's system prompt
	maxFileBytes = 16 << 10
)

// Sources.
const (
	SourceAgent = "agent"
	SourceAPI   = "api"
)

// Memory is one remembered fact.
type Memory struct {
	ID        string
	Content   string
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// header is a memory file's front matter.
type header struct {
	Source    string    `yaml:"source"`
	CreatedAt time.Time `yaml:"created_at"`
	UpdatedAt time.Time `yaml:"updated_at"`
}

// Store reads and writes memories in workspaces.
type Store struct {
	ids *herm.IDGen
	now func() time.Time
}

// New returns a Store.
func New(ids *herm.IDGen, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{ids: ids, now: now}
}

func file(id string) string { return path.Join(Dir, id+".md") }

// checkID refuses what is not a memory ID (so that it never names another
// file).
func checkID(id string) error {
	if !strings.HasPrefix(id, Prefix) || !herm.LooksLikeID(id) {
		return herm.Errorf(herm.ENotFound, "no memory %q", id)
	}
	return nil
}

// CheckContent validates a memory's text.
func CheckContent(content string) (string, error) {
	c := strings.TrimSpace(content)
	switch {
	case c == "":
		return "", herm.Errorf(herm.EInvalid, "content is required")
	case !utf8.ValidString(c):
		return "", herm.Errorf(herm.EInvalid, "content must be valid UTF-8")
	case utf8.RuneCountInString(c) > MaxContent:
		return "", herm.Errorf(herm.EInvalid, "content is longer than %d characters: keep one fact per memory", MaxContent)
	}
	return c, nil
}

func encode(m Memory) []byte {
	var b bytes.Buffer
	b.WriteString("---\n")
	h, _ := yaml.Marshal(header{Source: m.Source, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt})
	b.Write(h)
	b.WriteString("---\n")
	b.WriteString(m.Content)
	b.WriteString("\n")
	return b.Bytes()
}

func decode(id string, data []byte) (Memory, error) {
	text := string(data)
	rest, ok := strings.CutPrefix(text, "---\n")
	if !ok {
		return Memory{}, fmt.Errorf("%s: no front matter", file(id))
	}
	front, body, ok := strings.Cut(rest, "\n---\n")
	if !ok {
		return Memory{}, fmt.Errorf("%s: front matter not closed", file(id))
	}
	var h header
	if err := yaml.Unmarshal([]byte(front), &h); err != nil {
		return Memory{}, fmt.Errorf("%s: %v", file(id), err)
	}
	return Memory{ID: id, Content: strings.TrimSpace(body), Source: h.Source, CreatedAt: h.CreatedAt.UTC(), UpdatedAt: h.UpdatedAt.UTC()}, nil
}

// List returns a workspace's memories, newest first; q keeps those whose
// content holds every word of it (case-insensitive). Files that are not
// memories (or that the agent broke) are skipped.
func (s *Store) List(ws *sandbox.Workspace, q string) ([]Memory, error) {
	entries, _, err := ws.List(Dir)
	if herm.IsCode(err, herm.ENotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	words := strings.Fields(strings.ToLower(q))
	var out []Memory
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name, ".md")
		if e.Dir || !ok || checkID(id) != nil {
			continue
		}
		m, err := s.Get(ws, id)
		if err != nil {
			continue
		}
		lower := strings.ToLower(m.Content)
		match := true
		for _, w := range words {
			match = match && strings.Contains(lower, w)
		}
		if match {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// Get returns one memory (ENotFound).
func (s *Store) Get(ws *sandbox.Workspace, id string) (Memory, error) {
	if err := checkID(id); err != nil {
		return Memory{}, err
	}
	data, err := ws.ReadFile(file(id), maxFileBytes)
	if herm.IsCode(err, herm.ENotFound) {
		return Memory{}, herm.Errorf(herm.ENotFound, "no memory %s", id)
	}
	if err != nil {
		return Memory{}, err
	}
	m, err := decode(id, data)
	if err != nil {
		return Memory{}, herm.Errorf(herm.EInvalid, "memory %s cannot be read: %v", id, err)
	}
	return m, nil
}

// Create stores a new memory.
func (s *Store) Create(ws *sandbox.Workspace, content, source string) (Memory, error) {
	c, err := CheckContent(content)
	if err != nil {
		return Memory{}, err
	}
	list, err := s.List(ws, "")
	if err != nil {
		return Memory{}, err
	}
	if len(list) >= MaxMemories {
		return Memory{}, herm.Errorf(herm.EInvalid, "the deployment has %d memories, the most it keeps: replace or remove one", MaxMemories)
	}
	for _, m := range list {
		if strings.EqualFold(m.Content, c) {
			return m, nil // already remembered
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	m := Memory{ID: s.ids.New(Prefix), Content: c, Source: source, CreatedAt: now, UpdatedAt: now}
	if _, err := ws.WriteFile(file(m.ID), bytes.NewReader(encode(m))); err != nil {
		return Memory{}, err
	}
	return m, nil
}

// Update replaces a memory's content.
func (s *Store) Update(ws *sandbox.Workspace, id, content string) (Memory, error) {
	c, err := CheckContent(content)
	if err != nil {
		return Memory{}, err
	}
	m, err := s.Get(ws, id)
	if err != nil {
		return Memory{}, err
	}
	m.Content, m.UpdatedAt = c, s.now().UTC().Truncate(time.Microsecond)
	if _, err := ws.WriteFile(file(id), bytes.NewReader(encode(m))); err != nil {
		return Memory{}, err
	}
	return m, nil
}

// Delete removes a memory.
func (s *Store) Delete(ws *sandbox.Workspace, id string) error {
	if _, err := s.Get(ws, id); err != nil {
		return err
	}
	return ws.Remove(file(id))
}

// Prompt is the memories part of a run's system prompt: newest first,
// within PromptBudget characters.
func Prompt(list []Memory) string {
	if len(list) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\nWhat you remember about this customer from earlier conversations (keep it current with the memory tool: add new durable facts, replace or remove wrong ones):\n")
	shown := 0
	for _, m := range list {
		line := fmt.Sprintf("- [%s] %s\n", m.ID, strings.ReplaceAll(m.Content, "\n", " "))
		if b.Len()+len(line) > PromptBudget {
			break
		}
		b.WriteString(line)
		shown++
	}
	if shown < len(list) {
		fmt.Fprintf(&b, "(%d older memories are not shown; list them with the memory tool)\n", len(list)-shown)
	}
	return b.String()
}
