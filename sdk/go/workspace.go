package herm

import (
	"context"
	"encoding/json"
	"io"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// FileList is a directory of a workspace.
type FileList struct {
	// Path is the directory, relative to the workspace, ending in / ("" for
	// its root), so that Path + an entry's Name is the entry's path.
	Path    string      `json:"path"`
	Entries []FileEntry `json:"entries"`
	// Truncated is set when the directory has more entries than a listing
	// holds (10,000).
	Truncated bool `json:"truncated"`
}

// FileEntry is an entry of a directory.
type FileEntry struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"` // file or directory
	Size       int64     `json:"size"`
	ModifiedAt time.Time `json:"modified_at"`
}

// FileInfo is a file written.
type FileInfo struct {
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	ModifiedAt time.Time `json:"modified_at"`
}

// FileService reads and writes deployments' workspaces (/workspace in the
// sandbox). Paths are relative to the workspace; one that leaves it is a
// 400 validation_error. The deployment must be ready (409 otherwise).
type FileService struct{ c *Client }

// List lists a directory ("" for the workspace root), sorted by name.
func (s *FileService) List(ctx context.Context, deploymentID, dir string) (*FileList, error) {
	var q url.Values
	if dir != "" {
		q = url.Values{"path": {dir}}
	}
	var l FileList
	if err := s.c.do(ctx, http.MethodGet, depPath(deploymentID, "files"), q, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Open returns a file's content, to read and close.
func (s *FileService) Open(ctx context.Context, deploymentID, file string) (io.ReadCloser, error) {
	resp, err := s.c.send(ctx, &request{method: http.MethodGet, path: depPath(deploymentID, "files", "content"),
		query: url.Values{"path": {file}}, header: http.Header{"Accept": {"*/*"}}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Read returns a file's content.
func (s *FileService) Read(ctx context.Context, deploymentID, file string) ([]byte, error) {
	rc, err := s.Open(ctx, deploymentID, file)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// Write writes a file, replacing it atomically and creating its parent
// directories.
func (s *FileService) Write(ctx context.Context, deploymentID, file string, content []byte) (*FileInfo, error) {
	if content == nil {
		content = []byte{}
	}
	resp, err := s.c.send(ctx, &request{method: http.MethodPut, path: depPath(deploymentID, "files"),
		query: url.Values{"path": {file}}, body: content, contentType: "application/octet-stream"})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var fi FileInfo
	if err := json.NewDecoder(resp.Body).Decode(&fi); err != nil {
		return nil, err
	}
	return &fi, nil
}

// Delete deletes a file, or a directory with everything in it.
func (s *FileService) Delete(ctx context.Context, deploymentID, file string) error {
	return s.c.do(ctx, http.MethodDelete, depPath(deploymentID, "files"), url.Values{"path": {file}}, nil, nil)
}

// Memory is a durable fact a deployment's agent remembers.
type Memory struct {
	MemoryID  string    `json:"memory_id"`
	Content   string    `json:"content"`
	Source    string    `json:"source"` // agent or api
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MemoryListParams filters and pages a memory list.
type MemoryListParams struct {
	// Query keeps memories holding every word of it (case-insensitive).
	Query string
	ListParams
}

// MemoryService is the Memories API.
type MemoryService struct{ c *Client }

type memoryBody struct {
	Content string `json:"content"`
}

// Create seeds a memory; the same content again returns the existing one.
func (s *MemoryService) Create(ctx context.Context, deploymentID, content string) (*Memory, error) {
	var m Memory
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "memories"), nil, memoryBody{content}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// List reads one page of a deployment's memories, newest first.
func (s *MemoryService) List(ctx context.Context, deploymentID string, p MemoryListParams) (*Page[Memory], error) {
	q := p.values()
	setIf(q, "q", p.Query)
	return getPage[Memory](ctx, s.c, depPath(deploymentID, "memories"), q)
}

// All iterates over every memory p selects, across pages.
func (s *MemoryService) All(ctx context.Context, deploymentID string, p MemoryListParams) iter.Seq2[*Memory, error] {
	return all(p.Cursor, func(cursor string) (*Page[Memory], error) {
		p.Cursor = cursor
		return s.List(ctx, deploymentID, p)
	})
}

// Get reads a memory.
func (s *MemoryService) Get(ctx context.Context, deploymentID, memoryID string) (*Memory, error) {
	var m Memory
	if err := s.c.do(ctx, http.MethodGet, depPath(deploymentID, "memories", memoryID), nil, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Update replaces a memory's content.
func (s *MemoryService) Update(ctx context.Context, deploymentID, memoryID, content string) (*Memory, error) {
	var m Memory
	if err := s.c.do(ctx, http.MethodPatch, depPath(deploymentID, "memories", memoryID), nil, memoryBody{content}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Delete deletes a memory.
func (s *MemoryService) Delete(ctx context.Context, deploymentID, memoryID string) error {
	return s.c.do(ctx, http.MethodDelete, depPath(deploymentID, "memories", memoryID), nil, nil, nil)
}

// Skill is a deployment's skill: a configured one, or one its agent
// learned.
type Skill struct {
	SkillID     string     `json:"skill_id"`
	Name        string     `json:"name"`
	Source      string     `json:"source"` // file, inline or url
	Description string     `json:"description"`
	Origin      string     `json:"origin"` // configured or learned
	Path        string     `json:"path,omitempty"`
	URL         string     `json:"url,omitempty"`
	Error       string     `json:"error,omitempty"` // why a file skill cannot be read now
	CreatedAt   *time.Time `json:"created_at"`
	// Content is the whole SKILL.md (only from Get, Create and Replace).
	Content string `json:"content,omitempty"`
}

// SkillService is the Skills API. A skill that cannot be fetched or parsed
// is a 422 invalid_skill saying why.
type SkillService struct{ c *Client }

// List lists a deployment's skills: the configured ones, then the learned.
func (s *SkillService) List(ctx context.Context, deploymentID string) ([]Skill, error) {
	p, err := getPage[Skill](ctx, s.c, depPath(deploymentID, "skills"), nil)
	if err != nil {
		return nil, err
	}
	return p.Data, nil
}

// Create adds a configured skill (a new configuration version).
func (s *SkillService) Create(ctx context.Context, deploymentID string, p SkillParams) (*Skill, error) {
	var sk Skill
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "skills"), nil, p, &sk); err != nil {
		return nil, err
	}
	return &sk, nil
}

// Get reads a skill with its SKILL.md.
func (s *SkillService) Get(ctx context.Context, deploymentID, skillID string) (*Skill, error) {
	var sk Skill
	if err := s.c.do(ctx, http.MethodGet, depPath(deploymentID, "skills", skillID), nil, nil, &sk); err != nil {
		return nil, err
	}
	return &sk, nil
}

// Replace replaces a configured skill (its id stays).
func (s *SkillService) Replace(ctx context.Context, deploymentID, skillID string, p SkillParams) (*Skill, error) {
	var sk Skill
	if err := s.c.do(ctx, http.MethodPut, depPath(deploymentID, "skills", skillID), nil, p, &sk); err != nil {
		return nil, err
	}
	return &sk, nil
}

// Delete removes a configured skill, or deletes a learned one.
func (s *SkillService) Delete(ctx context.Context, deploymentID, skillID string) error {
	return s.c.do(ctx, http.MethodDelete, depPath(deploymentID, "skills", skillID), nil, nil, nil)
}
