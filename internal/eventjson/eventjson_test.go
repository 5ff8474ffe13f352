package eventjson

import (
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

func TestMarshal(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	head := `{"event_id":"evt_7","sequence":7,"type":"message","deployment_id":"dep_1",`
	for _, c := range []struct {
		name, thread, run, data, want string
	}{
		{"own fields follow the common ones", "thr_1", "run_1", `{"content":"hi","turn":2}`,
			head + `"thread_id":"thr_1","run_id":"run_1","created_at":"2026-01-02T03:04:05Z","content":"hi","turn":2}`},
		{"no thread or run: null", "", "", `{"status":"ready"}`,
			head + `"thread_id":null,"run_id":null,"created_at":"2026-01-02T03:04:05Z","status":"ready"}`},
		{"empty object", "thr_1", "", `{}`,
			head + `"thread_id":"thr_1","run_id":null,"created_at":"2026-01-02T03:04:05Z"}`},
		{"no data", "", "", ``,
			head + `"thread_id":null,"run_id":null,"created_at":"2026-01-02T03:04:05Z"}`},
	} {
		e := &herm.Event{Seq: 7, Type: "message", DeploymentID: "dep_1", ThreadID: c.thread, RunID: c.run, Data: []byte(c.data), CreatedAt: at}
		if got := string(Marshal(e)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// An event goes to every subscriber and webhook: it is encoded once.
func TestMarshalOnce(t *testing.T) {
	t.Parallel()
	e := &herm.Event{Seq: 1, Type: "message", DeploymentID: "dep_1", Data: []byte(`{"content":"a"}`)}
	first := string(Marshal(e))
	e.Data = []byte(`{"content":"b"}`) // not allowed once encoded: shows the cache
	if again := string(Marshal(e)); again != first {
		t.Fatalf("encoded again: %s, then %s", first, again)
	}
}
