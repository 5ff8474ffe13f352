package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// localSandbox reports whether this machine runs the local driver (root,
// user namespaces); tests that need real isolation skip otherwise.
func localSandbox(t *testing.T, s *server) bool {
	t.Helper()
	return s.app.sandboxes.Default() == "local"
}

// events returns a deployment's events of the given types, oldest first.
func (s *server) events(dep string, types string) []map[string]any {
	s.t.Helper()
	q := "/v1/deployments/" + dep + "/events?after=evt_0&limit=1000"
	if types != "" {
		q += "&types=" + types
	}
	r := s.do("GET", q, nil, "Accept", "application/json")
	if r.status != 200 {
		s.t.Fatalf("events: %d %s", r.status, r.body)
	}
	var page struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		s.t.Fatal(err)
	}
	return page.Data
}

// sendAndWait sends a message and waits for its run to end.
func (s *server) sendAndWait(dep, content string) map[string]any {
	s.t.Helper()
	m := s.must(202, "POST", "/v1/deployments/"+dep+"/messages", map[string]any{"content": content})
	return s.waitRun(dep, m["run_id"].(string), "completed", "error", "cancelled")
}

// toolResults are the tool_result events of a run.
func (s *server) toolResults(dep, run string) []map[string]any {
	s.t.Helper()
	var out []map[string]any
	for _, e := range s.events(dep, "tool_result") {
		if e["run_id"] == run {
			out = append(out, e)
		}
	}
	return out
}

func TestFilesAPI(t *testing.T) {
	s := startServer(t, map[string]string{"HERM_MAX_FILE_BYTES": "3000000"})
	d := s.createReady(map[string]any{"sandbox": map[string]any{"resources": map[string]any{"disk_mb": 5}}})
	id := d["deployment_id"].(string)
	files := "/v1/deployments/" + id + "/files"

	// Raw body, parents created.
	w := s.must(200, "PUT", files+"?path=src/main.py", "print('hi')\n", "Content-Type", "application/octet-stream")
	if w["path"] != "src/main.py" || w["size"].(float64) != 12 || w["modified_at"] == nil {
		t.Fatalf("write: %v", w)
	}
	// JSON body, utf8 and base64.
	s.must(200, "PUT", files, map[string]any{"path": "notes/a.txt", "content": "héllo"})
	s.must(200, "PUT", files, map[string]any{"path": "bin.dat", "content": base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255}), "encoding": "base64"})
	// A JSON file uploaded as it is.
	s.must(200, "PUT", files+"?path=config.json", `{"a": 1}`, "Content-Type", "application/octet-stream")

	list := s.must(200, "GET", files, nil)
	if list["path"] != "" {
		t.Fatalf("list path: %q", list["path"])
	}
	if sub := s.must(200, "GET", files+"?path=src", nil); sub["path"] != "src/" {
		t.Fatalf("list path of src: %q", sub["path"])
	}
	var names []string
	for _, e := range list["entries"].([]any) {
		m := e.(map[string]any)
		names = append(names, m["name"].(string)+":"+m["type"].(string))
	}
	// .herm holds the agent's own files (with a local sandbox: the egress
	// proxy's CA bundle).
	if got := strings.TrimPrefix(strings.Join(names, ","), ".herm:directory,"); got != "bin.dat:file,config.json:file,notes:directory,src:directory" {
		t.Fatalf("entries: %v", names)
	}
	sub := s.must(200, "GET", files+"?path=src/", nil)
	if e := sub["entries"].([]any)[0].(map[string]any); e["name"] != "main.py" || e["size"].(float64) != 12 {
		t.Fatalf("src: %v", sub)
	}

	r := s.do("GET", files+"/content?path=notes/a.txt", nil)
	if r.status != 200 || string(r.body) != "héllo" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") || r.header.Get("Content-Length") != "6" {
		t.Fatalf("read: %d %q %v", r.status, r.body, r.header)
	}
	r = s.do("GET", files+"/content?path=bin.dat", nil)
	if string(r.body) != string([]byte{0, 1, 2, 255}) {
		t.Fatalf("binary read: %v", r.body)
	}
	r = s.do("GET", files+"/content?path=src/main.py", nil, "Range", "bytes=6-9")
	if r.status != 206 || string(r.body) != "'hi'" || r.header.Get("Content-Range") != "bytes 6-9/12" {
		t.Fatalf("range: %d %q %v", r.status, r.body, r.header)
	}
	r = s.do("GET", files+"/content?path=src/main.py", nil, "Range", "bytes=100-200")
	if r.status != 416 || r.errCode(t) != "validation_error" || r.header.Get("Content-Range") != "bytes */12" {
		t.Fatalf("unsatisfiable range: %d %v %s", r.status, r.header, r.body)
	}

	// Files written by the API belong to the sandbox's user.
	if localSandbox(t, s) {
		var ws, f syscall.Stat_t
		dir := filepath.Join(s.dir, "workspaces", id)
		if err := syscall.Stat(dir, &ws); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Stat(filepath.Join(dir, "src", "main.py"), &f); err != nil {
			t.Fatal(err)
		}
		if f.Uid != ws.Uid || f.Uid == 0 {
			t.Fatalf("file owned by %d, workspace by %d", f.Uid, ws.Uid)
		}
	}

	// Escapes and bad paths: 400 with the envelope.
	if err := os.Symlink("/etc", filepath.Join(s.dir, "workspaces", id, "etc-link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../x", "/etc/passwd", "src/../../x", "etc-link/passwd"} {
		for _, req := range [][2]string{{"GET", files + "/content?path=" + p}, {"GET", files + "?path=" + p}, {"PUT", files + "?path=" + p}, {"DELETE", files + "?path=" + p}} {
			r := s.do(req[0], req[1], "x", "Content-Type", "application/octet-stream")
			if r.status != 400 || r.errCode(t) != "validation_error" {
				t.Errorf("%s %s: %d %s", req[0], req[1], r.status, r.body)
			}
		}
	}
	if r := s.do("GET", files+"/content?path=missing.txt", nil); r.status != 404 || r.errCode(t) != "not_found" {
		t.Errorf("missing file: %d %s", r.status, r.body)
	}
	if r := s.do("GET", files+"/content?path=src", nil); r.status != 400 {
		t.Errorf("reading a directory: %d %s", r.status, r.body)
	}
	if r := s.do("PUT", files, map[string]any{"path": "a", "content": "x", "encoding": "rot13"}); r.status != 400 {
		t.Errorf("bad encoding: %d %s", r.status, r.body)
	}
	if r := s.do("PUT", files+"?path=a", map[string]any{"path": "b", "content": "x"}); r.status != 400 {
		t.Errorf("two paths: %d %s", r.status, r.body)
	}
	// Too large for the server's limit, and past the deployment's quota.
	if r := s.do("PUT", files+"?path=big", strings.Repeat("x", 3000001), "Content-Type", "application/octet-stream"); r.status != 413 || r.errCode(t) != "validation_error" {
		t.Errorf("over the file limit: %d %s", r.status, r.body)
	}
	for i := range 2 {
		s.must(200, "PUT", files+"?path=fill"+string(rune('0'+i)), strings.Repeat("x", 2500000), "Content-Type", "application/octet-stream")
	}
	if r := s.do("PUT", files+"?path=fill2", strings.Repeat("x", 2500000), "Content-Type", "application/octet-stream"); r.status != 413 || r.errCode(t) != "validation_error" {
		t.Errorf("past the disk quota: %d %s", r.status, r.body)
	}
	if r := s.do("GET", files+"/content?path=fill2", nil); r.status != 404 {
		t.Errorf("the refused file exists: %d", r.status)
	}

	// Delete a file, then a directory recursively.
	s.must(204, "DELETE", files+"?path=bin.dat", nil)
	s.must(204, "DELETE", files+"?path=src", nil)
	if r := s.do("GET", files+"?path=src", nil); r.status != 404 {
		t.Errorf("deleted directory: %d", r.status)
	}
	if r := s.do("DELETE", files+"?path=", nil); r.status != 400 {
		t.Errorf("deleting without a path: %d", r.status)
	}
	if r := s.do("GET", "/v1/deployments/dep_missing/files", nil); r.status != 404 {
		t.Errorf("unknown deployment: %d", r.status)
	}
	// The path of a deletion may come in a JSON body.
	s.must(200, "PUT", files+"?path=tmp/gone.txt", "x", "Content-Type", "text/plain")
	s.must(204, "DELETE", files, map[string]any{"path": "tmp/gone.txt"})
	if r := s.do("GET", files+"/content?path=tmp/gone.txt", nil); r.status != 404 {
		t.Fatalf("deleted through a JSON body: %d", r.status)
	}
}

// The agent's tools run in the sandbox: the shell writes a file the files
// API reads, results are events with origin builtin, long outputs are
// saved in the workspace, and filesystem events report the changes.
func TestToolsInTheSandbox(t *testing.T) {
	s := startServer(t, nil)
	if !localSandbox(t, s) {
		t.Log("the local driver does not run here: the deployment gets no code execution")
	}
	d := s.createReady(map[string]any{"features": map[string]any{"filesystem_webhooks": true}})
	id := d["deployment_id"].(string)
	if !localSandbox(t, s) {
		run := s.sendAndWait(id, "run: echo hi")
		if res := s.toolResults(id, run["run_id"].(string)); len(res) != 0 {
			t.Fatalf("shell offered without code execution: %v", res)
		}
		return
	}
	run := s.sendAndWait(id, "run: echo hello > greeting.txt && id -u && cat greeting.txt")
	if run["status"] != "completed" {
		t.Fatalf("run: %v", run)
	}
	first := run
	res := s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || res[0]["origin"] != "builtin" || res[0]["tool"] != "shell" || res[0]["is_error"] != false ||
		!strings.Contains(res[0]["result"].(string), "1000\nhello") {
		t.Fatalf("tool results: %v", res)
	}
	if r := s.do("GET", "/v1/deployments/"+id+"/files/content?path=greeting.txt", nil); string(r.body) != "hello\n" {
		t.Fatalf("greeting.txt: %d %q", r.status, r.body)
	}

	// A failing command is an error result, and the run goes on.
	run = s.sendAndWait(id, "run: cat /etc/shadow")
	res = s.toolResults(id, run["run_id"].(string))
	if run["status"] != "completed" || len(res) != 1 || res[0]["is_error"] != true {
		t.Fatalf("failing command: %v %v", run, res)
	}

	// A long output: a preview for the model, the whole in the workspace.
	run = s.sendAndWait(id, "run: seq 1 20000")
	res = s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || res[0]["truncated"] != true || res[0]["output_path"] == nil {
		t.Fatalf("long output: %v", res)
	}
	if len(res[0]["result"].(string)) > 17<<10 {
		t.Fatalf("preview of %d bytes", len(res[0]["result"].(string)))
	}
	p := res[0]["output_path"].(string)
	if !strings.HasPrefix(p, ".herm/outputs/") {
		t.Fatalf("output path %q", p)
	}
	full := s.do("GET", "/v1/deployments/"+id+"/files/content?path="+p, nil)
	if !strings.Contains(string(full.body), "\n19999\n20000") {
		t.Fatalf("full output: %d bytes", len(full.body))
	}

	// Filesystem events, from the shell and from the files API.
	s.must(200, "PUT", "/v1/deployments/"+id+"/files?path=api.txt", "x", "Content-Type", "text/plain")
	s.must(200, "PUT", "/v1/deployments/"+id+"/files?path=api.txt", "xy", "Content-Type", "text/plain")
	s.must(204, "DELETE", "/v1/deployments/"+id+"/files?path=api.txt", nil)
	var changes []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		changes = nil
		for _, e := range s.events(id, "filesystem") {
			changes = append(changes, e["change"].(string)+" "+e["path"].(string))
		}
		if len(changes) >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := "created greeting.txt,created api.txt,modified api.txt,deleted api.txt"
	if strings.Join(changes, ",") != want {
		t.Fatalf("filesystem events %v, want %s", changes, want)
	}
	// A run's changes are the run's; the files API's are nobody's.
	fsEvents := s.events(id, "filesystem")
	if fsEvents[0]["run_id"] != first["run_id"] || fsEvents[0]["thread_id"] != first["thread_id"] || fsEvents[1]["run_id"] != nil {
		t.Fatalf("attribution: %v", fsEvents[:2])
	}
}

// With the sandbox disabled there is no code execution, but the files API
// and the file tools work on the workspace.
func TestSandboxDisabled(t *testing.T) {
	s := startServer(t, nil)
	d := s.createReady(map[string]any{"sandbox": map[string]any{"enabled": false}})
	id := d["deployment_id"].(string)
	run := s.sendAndWait(id, "run: echo hi")
	if res := s.toolResults(id, run["run_id"].(string)); len(res) != 0 {
		t.Fatalf("the shell ran with the sandbox disabled: %v", res)
	}
	run = s.sendAndWait(id, `/tool write_file {"path": "notes.txt", "content": "from a tool"}`)
	res := s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || res[0]["is_error"] != false {
		t.Fatalf("write_file: %v", res)
	}
	if r := s.do("GET", "/v1/deployments/"+id+"/files/content?path=notes.txt", nil); string(r.body) != "from a tool" {
		t.Fatalf("notes.txt: %q", r.body)
	}
}

func TestSandboxTypeValidation(t *testing.T) {
	s := startServer(t, nil)
	r := s.do("POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "sandbox": map[string]any{"type": "kubernetes"}})
	if r.status != 400 || r.errCode(t) != "validation_error" || !strings.Contains(string(r.body), s.app.sandboxes.Default()) {
		t.Fatalf("unknown type: %d %s", r.status, r.body)
	}
	d := s.createReady(nil)
	if d["sandbox"].(map[string]any)["type"] != s.app.sandboxes.Default() {
		t.Fatalf("default type: %v", d["sandbox"])
	}
}

// Files written by tools survive a restart of the server, and a sandbox
// that a memory bomb or a fork storm hit keeps working.
func TestSandboxSurvivesRestartAndAbuse(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, map[string]string{"HERM_DATA_DIR": dir})
	if !localSandbox(t, s) {
		t.Skip("the local driver does not run here")
	}
	d := s.createReady(map[string]any{"sandbox": map[string]any{"resources": map[string]any{"memory_mb": 64, "pids": 64}}})
	id := d["deployment_id"].(string)
	s.sendAndWait(id, "run: echo persisted > kept.txt")
	run := s.sendAndWait(id, `run: python3 -c "x = bytearray(512 << 20)"`)
	if res := s.toolResults(id, run["run_id"].(string)); len(res) != 1 || res[0]["is_error"] != true {
		t.Fatalf("memory bomb: %v", res)
	}
	run = s.sendAndWait(id, "run: i=0; while [ $i -lt 200 ]; do sleep 3 & i=$((i+1)); done; wait")
	if res := s.toolResults(id, run["run_id"].(string)); len(res) != 1 || !strings.Contains(res[0]["result"].(string), "fork") {
		t.Fatalf("fork storm: %v", res)
	}
	s.must(200, "GET", "/healthz", nil)
	s.stop()

	s2 := startServer(t, map[string]string{"HERM_DATA_DIR": dir})
	run = s2.sendAndWait(id, "run: cat kept.txt")
	res := s2.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || !strings.Contains(res[0]["result"].(string), "persisted") {
		t.Fatalf("after a restart: %v", res)
	}
}

// A deployment of sandbox.type docker runs its tools in a container (with
// an engine at HERM_TEST_DOCKER_HOST; skipped without one).
func TestDockerDeployment(t *testing.T) {
	host, image := os.Getenv("HERM_TEST_DOCKER_HOST"), os.Getenv("HERM_TEST_DOCKER_IMAGE")
	if host == "" || image == "" {
		t.Skip("HERM_TEST_DOCKER_HOST and HERM_TEST_DOCKER_IMAGE are not set: no Docker engine to test against")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, map[string]string{"HERM_DATA_DIR": dir, "HERM_DOCKER_HOST": host, "HERM_DOCKER_IMAGE": image, "HERM_DOCKER_HOST_USR": "1"})
	if !s.app.sandboxes.Has("docker") {
		t.Fatalf("docker not enabled: %v", s.app.sandboxes.Types())
	}
	d := s.createReady(map[string]any{"sandbox": map[string]any{"type": "docker"}})
	id := d["deployment_id"].(string)
	defer s.do("DELETE", "/v1/deployments/"+id, nil)
	run := s.sendAndWait(id, "run: hostname && id -u && echo from-docker > d.txt")
	res := s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || res[0]["is_error"] != false || !strings.Contains(res[0]["result"].(string), "sandbox\n1000") {
		t.Fatalf("shell in docker: %v", res)
	}
	if r := s.do("GET", "/v1/deployments/"+id+"/files/content?path=d.txt", nil); string(r.body) != "from-docker\n" {
		t.Fatalf("d.txt: %d %q", r.status, r.body)
	}
}

// A deletion with retain_filesystem keeps a snapshot of the workspace that
// starts a new deployment of the same customer, and no other's.
func TestWorkspaceSnapshots(t *testing.T) {
	s := startServer(t, nil)
	a := s.createReady(map[string]any{"customer_id": "cus_snap"})
	aid := a["deployment_id"].(string)
	files := func(id string) string { return "/v1/deployments/" + id + "/files" }
	s.must(200, "PUT", files(aid)+"?path=src/app.py", "print('kept')\n", "Content-Type", "application/octet-stream")
	s.must(200, "PUT", files(aid)+"?path=notes.md", "# notes\n", "Content-Type", "text/markdown")
	if localSandbox(t, s) {
		s.sendAndWait(aid, "run: mkdir -p empty && ln -s src/app.py link && chmod +x src/app.py")
	}
	del := s.must(202, "DELETE", "/v1/deployments/"+aid+"?retain_filesystem=true", nil)
	snap, _ := del["snapshot_id"].(string)
	if !strings.HasPrefix(snap, "snap_") || del["status"] != "deleting" {
		t.Fatalf("delete: %v", del)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.do("GET", "/v1/deployments/"+aid, nil).status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("the deployment was not deleted")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Another customer cannot use it (and cannot tell it exists).
	r := s.do("POST", "/v1/deployments", map[string]any{"customer_id": "cus_other", "name": "n", "system_prompt": "p", "restore_snapshot_id": snap})
	if r.status != 400 || r.errCode(t) != "validation_error" || !strings.Contains(string(r.body), "not found") {
		t.Fatalf("another customer's restore: %d %s", r.status, r.body)
	}

	b := s.createReady(map[string]any{"customer_id": "cus_snap", "restore_snapshot_id": snap})
	bid := b["deployment_id"].(string)
	// retain_filesystem sent in a JSON body counts as well.
	c := s.createReady(map[string]any{"customer_id": "cus_snap"})
	if del := s.must(202, "DELETE", "/v1/deployments/"+str(c["deployment_id"]), map[string]any{"retain_filesystem": true}); !strings.HasPrefix(str(del["snapshot_id"]), "snap_") {
		t.Fatalf("delete with a JSON body: %v", del)
	}
	if got := s.do("GET", files(bid)+"/content?path=src/app.py", nil); string(got.body) != "print('kept')\n" {
		t.Fatalf("restored app.py: %d %q", got.status, got.body)
	}
	if got := s.do("GET", files(bid)+"/content?path=notes.md", nil); string(got.body) != "# notes\n" {
		t.Fatalf("restored notes.md: %q", got.body)
	}
	if localSandbox(t, s) {
		run := s.sendAndWait(bid, "run: test -d empty && readlink link && test -x src/app.py && touch src/new && id -u")
		res := s.toolResults(bid, run["run_id"].(string))
		if len(res) != 1 || res[0]["is_error"] != false || !strings.Contains(res[0]["result"].(string), "src/app.py\n1000") {
			t.Fatalf("restored workspace in the sandbox: %v", res)
		}
	}
	// A snapshot may start several deployments.
	s.createReady(map[string]any{"customer_id": "cus_snap", "restore_snapshot_id": snap})
}

// A PATCH of sandbox.resources applies without a restart: the disk quota
// at once.
func TestResourcesPatch(t *testing.T) {
	s := startServer(t, nil)
	d := s.createReady(map[string]any{"sandbox": map[string]any{"resources": map[string]any{"disk_mb": 1}}})
	files := "/v1/deployments/" + d["deployment_id"].(string) + "/files?path=big"
	big := strings.Repeat("x", 2<<20)
	if r := s.do("PUT", files, big, "Content-Type", "application/octet-stream"); r.status != 413 {
		t.Fatalf("2 MB under a 1 MB quota: %d %s", r.status, r.body)
	}
	s.must(200, "PATCH", "/v1/deployments/"+d["deployment_id"].(string), map[string]any{"sandbox": map[string]any{"resources": map[string]any{"disk_mb": 5}}})
	s.must(200, "PUT", files, big, "Content-Type", "application/octet-stream")
}
