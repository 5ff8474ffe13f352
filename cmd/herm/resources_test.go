package main

import (
	"testing"
)

// Deployment responses show the sandbox's limits in effect: those set, and
// the driver's defaults for the others; the stored configuration keeps
// only what was set.
func TestEffectiveResources(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	resources := func(d map[string]any) map[string]any {
		return d["sandbox"].(map[string]any)["resources"].(map[string]any)
	}
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	got := resources(s.must(200, "GET", "/v1/deployments/"+id, nil))
	set := s.createReady(map[string]any{"sandbox": map[string]any{"resources": map[string]any{"pids": 64, "disk_mb": 5}}})
	gotSet := resources(set)
	if !localSandbox(t, s) {
		if len(got) != 0 || len(gotSet) != 2 {
			t.Fatalf("without limits: %v and %v", got, gotSet)
		}
		return
	}
	if got["cpu"] != 1.0 || got["memory_mb"] != 1024.0 || got["pids"] != 512.0 || got["disk_mb"] != nil {
		t.Fatalf("defaults: %v", got)
	}
	if gotSet["cpu"] != 1.0 || gotSet["memory_mb"] != 1024.0 || gotSet["pids"] != 64.0 || gotSet["disk_mb"] != 5.0 {
		t.Fatalf("some set: %v", gotSet)
	}
	// Lists and updates show them too; what is stored is what was set.
	for _, e := range s.must(200, "GET", "/v1/deployments", nil)["data"].([]any) {
		if r := resources(e.(map[string]any)); r["memory_mb"] != 1024.0 {
			t.Fatalf("list: %v", r)
		}
	}
	patched := resources(s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"sandbox": map[string]any{"resources": map[string]any{"memory_mb": 256}}}))
	if patched["memory_mb"] != 256.0 || patched["cpu"] != 1.0 {
		t.Fatalf("patched: %v", patched)
	}
	stored, err := s.app.store.GetDeployment(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r := stored.Sandbox.Resources; r.CPU != 0 || r.PIDs != 0 || r.MemoryMB != 256 {
		t.Fatalf("stored: %+v", r)
	}
}
