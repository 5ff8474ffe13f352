package httpapi

import (
	"net/http"
	"sort"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/sandbox"
)

// MemoryRequest is the body of a memory's creation or update.
type MemoryRequest struct {
	Content *string `json:"content" doc:"One durable fact about the customer (≤ 2000 characters)."`
}

// Memory is one thing a deployment's agent remembers: a file under
// .herm/memory/ in its workspace.
type Memory struct {
	MemoryID  string    `json:"memory_id"`
	Content   string    `json:"content"`
	Source    string    `json:"source" enum:"agent,api,observer" doc:"agent: its memory tool recorded it; api: created through this API; observer: the memory observer, after a run, took it from the conversation."`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toMemory(m memory.Memory) Memory {
	return Memory{MemoryID: m.ID, Content: m.Content, Source: m.Source, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func (s *Server) memoriesOrErr() (*memory.Store, error) {
	if s.memories == nil {
		return nil, herm.Errorf(herm.EUnavailable, "this server keeps no memories")
	}
	return s.memories, nil
}

// memoryTarget returns the memories and the workspace a request is about.
func (s *Server) memoryTarget(r *http.Request) (*memory.Store, *sandbox.Workspace, error) {
	mem, err := s.memoriesOrErr()
	if err != nil {
		return nil, nil, err
	}
	ws, err := s.workspace(r)
	return mem, ws, err
}

func (s *Server) listMemories(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	mem, ws, err := s.memoryTarget(r)
	if err != nil {
		return err
	}
	list, err := mem.List(ws, r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	if p.Cursor != "" {
		i := sort.Search(len(list), func(i int) bool { return list[i].ID < p.Cursor }) // newest first
		list = list[i:]
	}
	if len(list) > p.Limit+1 {
		list = list[:p.Limit+1]
	}
	writeJSON(w, http.StatusOK, listOf(list, p.Limit, toMemory, func(m memory.Memory) string { return m.ID }))
	return nil
}

func (s *Server) getMemory(w http.ResponseWriter, r *http.Request) error {
	mem, ws, err := s.memoryTarget(r)
	if err != nil {
		return err
	}
	m, err := mem.Get(ws, r.PathValue("memory_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toMemory(m))
	return nil
}

func (s *Server) createMemory(w http.ResponseWriter, r *http.Request) error {
	status := http.StatusCreated
	return s.writeMemory(w, r, &status, func(mem *memory.Store, ws *sandbox.Workspace, content string) (memory.Memory, error) {
		m, created, err := mem.Create(ws, content, memory.SourceAPI)
		if !created {
			status = http.StatusOK // the same fact was stored before: it is returned as it is
		} else if err == nil {
			s.announceMemory(r, m.ID, memory.Created)
		}
		return m, err
	})
}

func (s *Server) updateMemory(w http.ResponseWriter, r *http.Request) error {
	status := http.StatusOK
	return s.writeMemory(w, r, &status, func(mem *memory.Store, ws *sandbox.Workspace, content string) (memory.Memory, error) {
		m, err := mem.Update(ws, r.PathValue("memory_id"), content)
		if err == nil {
			s.announceMemory(r, m.ID, memory.Updated)
		}
		return m, err
	})
}

// writeMemory decodes a MemoryRequest and answers with what write made of it.
func (s *Server) writeMemory(w http.ResponseWriter, r *http.Request, status *int, write func(*memory.Store, *sandbox.Workspace, string) (memory.Memory, error)) error {
	var in MemoryRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Content == nil {
		return herm.Errorf(herm.EInvalid, "content is required")
	}
	mem, ws, err := s.memoryTarget(r)
	if err != nil {
		return err
	}
	m, err := write(mem, ws, *in.Content)
	if err != nil {
		return err
	}
	writeJSON(w, *status, toMemory(m))
	return nil
}

func (s *Server) deleteMemory(w http.ResponseWriter, r *http.Request) error {
	mem, ws, err := s.memoryTarget(r)
	if err != nil {
		return err
	}
	if err := mem.Delete(ws, r.PathValue("memory_id")); err != nil {
		return err
	}
	s.announceMemory(r, r.PathValue("memory_id"), memory.Deleted)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// announceMemory tells of a change made through the API (a memory event of
// the deployment, source api).
func (s *Server) announceMemory(r *http.Request, id, change string) {
	s.memories.Announce(r.Context(), memory.Event{DeploymentID: r.PathValue("deployment_id"), MemoryID: id, Change: change, Source: memory.SourceAPI})
}
