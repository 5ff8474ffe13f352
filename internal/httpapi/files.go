package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
)

// FileList is a directory of the workspace.
type FileList struct {
	Path    string      `json:"path" doc:"The directory, relative to the workspace, ending in / (\"\" for its root), so that path + name is an entry's path."`
	Entries []FileEntry `json:"entries"`
	// Truncated is set when the directory has more entries than a listing
	// returns (10,000); entries are then some of them, sorted.
	Truncated bool `json:"truncated,omitempty" doc:"Only when the directory has more than 10,000 entries: the listing holds 10,000 of them."`
}

// FileEntry is one file or directory.
type FileEntry struct {
	Name       string    `json:"name"`
	Type       string    `json:"type" enum:"file,directory"`
	Size       int64     `json:"size" doc:"Bytes; 0 for directories."`
	ModifiedAt time.Time `json:"modified_at"`
}

// WriteFileRequest is the JSON form of a file write.
type WriteFileRequest struct {
	Path     *string `json:"path" doc:"The file, relative to the workspace; may instead be given as the path query parameter."`
	Content  *string `json:"content" doc:"The file's content."`
	Encoding *string `json:"encoding" enum:"utf8,base64" doc:"How content is encoded (default utf8)."`
}

// FileInfo is a written file.
type FileInfo struct {
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	ModifiedAt time.Time `json:"modified_at"`
}

// workspace returns a deployment's workspace for the files API: the
// deployment must exist and be ready.
func (s *Server) workspace(r *http.Request) (*sandbox.Workspace, error) {
	d, err := s.deployment(r)
	if err != nil {
		return nil, err
	}
	if d.Status != herm.DeploymentReady {
		return nil, herm.Errorf(herm.ENotReady, "deployment %s is %s, not ready", d.ID, d.Status)
	}
	if s.boxes == nil {
		return nil, herm.Errorf(herm.EUnavailable, "this server has no workspaces")
	}
	return s.boxes.Workspace(r.Context(), d)
}

// fileTarget returns the workspace and the path query parameter, which is
// required.
func (s *Server) fileTarget(r *http.Request) (*sandbox.Workspace, string, error) {
	ws, err := s.workspace(r)
	if err != nil {
		return nil, "", err
	}
	p := r.URL.Query().Get("path")
	if p == "" {
		return nil, "", herm.Errorf(herm.EInvalid, "path: required")
	}
	return ws, p, nil
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.workspace(r)
	if err != nil {
		return err
	}
	p := r.URL.Query().Get("path")
	clean, err := sandbox.Clean(p)
	if err != nil {
		return err
	}
	entries, truncated, err := ws.List(clean)
	if err != nil {
		return err
	}
	dir := ""
	if clean != "." {
		dir = clean + "/"
	}
	out := FileList{Path: dir, Entries: make([]FileEntry, len(entries)), Truncated: truncated}
	for i, e := range entries {
		typ := "file"
		if e.Dir {
			typ = "directory"
		}
		out.Entries[i] = FileEntry{Name: e.Name, Type: typ, Size: e.Size, ModifiedAt: e.ModifiedAt}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) readFile(w http.ResponseWriter, r *http.Request) error {
	ws, p, err := s.fileTarget(r)
	if err != nil {
		return err
	}
	f, err := ws.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h := w.Header()
	// The bytes are the customer's, not ours: never let a browser run them.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("Cache-Control", "no-store")
	rw := &rangeRefusal{ResponseWriter: w}
	http.ServeContent(rw, r, fi.Name(), fi.ModTime(), f) // Content-Type, Content-Length, Range
	if rw.refused {
		// ServeContent's own answer is plain text: the envelope instead.
		h.Del("Content-Range")
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", fi.Size()))
		writeJSON(w, http.StatusRequestedRangeNotSatisfiable, ErrorBody{Error: ErrorDetail{Code: wireCode(herm.EInvalid),
			Message: fmt.Sprintf("range %q cannot be satisfied: the file has %d bytes", r.Header.Get("Range"), fi.Size()), RequestID: requestID(r.Context())}})
	}
	return nil
}

// rangeRefusal holds back http.ServeContent's 416 answer (text/plain) so
// that the error envelope can be written instead.
type rangeRefusal struct {
	http.ResponseWriter
	refused bool
}

func (w *rangeRefusal) WriteHeader(code int) {
	if code == http.StatusRequestedRangeNotSatisfiable {
		w.refused = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *rangeRefusal) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) writeFile(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.workspace(r)
	if err != nil {
		return err
	}
	p := r.URL.Query().Get("path")
	var body io.Reader = r.Body
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		var req WriteFileRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.Path != nil {
			if p != "" && p != *req.Path {
				return herm.Errorf(herm.EInvalid, "path: the query says %q and the body %q", p, *req.Path)
			}
			p = *req.Path
		}
		if req.Content == nil {
			return herm.Errorf(herm.EInvalid, "content: required in the JSON form (to upload a JSON file as it is, send it with another Content-Type, such as application/octet-stream)")
		}
		enc := "utf8"
		if req.Encoding != nil {
			enc = *req.Encoding
		}
		switch enc {
		case "utf8":
			body = strings.NewReader(*req.Content)
		case "base64":
			b, err := base64.StdEncoding.DecodeString(*req.Content)
			if err != nil {
				return herm.Errorf(herm.EInvalid, "content: not valid base64: %v", err)
			}
			body = bytes.NewReader(b)
		default:
			return herm.Errorf(herm.EInvalid, "encoding: must be utf8 or base64")
		}
	}
	if p == "" {
		return herm.Errorf(herm.EInvalid, "path: required")
	}
	e, err := ws.WriteFile(p, body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return herm.Errorf(herm.ETooLarge, "the file is larger than the limit of %d bytes", mbe.Limit)
		}
		return err
	}
	writeJSON(w, http.StatusOK, FileInfo{Path: e.Name, Size: e.Size, ModifiedAt: e.ModifiedAt})
	return nil
}

// DeleteFileRequest is an optional JSON body of a file deletion (the path
// may be given there instead of the query, as a JSON write may).
type DeleteFileRequest struct {
	Path string `json:"path"`
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("path") == "" && r.ContentLength != 0 {
		var in DeleteFileRequest
		if err := decode(r, &in); err != nil {
			return err
		}
		q := r.URL.Query()
		q.Set("path", in.Path)
		r.URL.RawQuery = q.Encode()
	}
	ws, p, err := s.fileTarget(r)
	if err != nil {
		return err
	}
	if err := ws.Remove(p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
