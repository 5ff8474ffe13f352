// Command harness measures a real herm server from the outside: it builds
// the binary, starts `herm serve` on a free port with a fresh data dir, and
// drives it over HTTP. See bench/README.md.
//
//	go run ./bench/harness provision -n 200      create→ready latency
//	go run ./bench/harness sse -subscribers 1000 SSE delivery latency
//	go run ./bench/harness idle -n 10000         memory of idle deployments
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	herm "github.com/hermhq/herm/sdk/go"
)

const key = "herm_sk_bench"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: harness provision|sse|idle [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "provision":
		err = provision(os.Args[2:])
	case "sse":
		err = sse(os.Args[2:])
	case "idle":
		err = idle(os.Args[2:])
	default:
		err = fmt.Errorf("unknown benchmark %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

// server is a running herm serve.
type server struct {
	cmd *exec.Cmd
	url string
	dir string
	c   *herm.Client
}

func start(env ...string) (*server, error) {
	dir, err := os.MkdirTemp("", "herm-bench-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "herm")
	build := exec.Command("go", "build", "-o", bin, "./cmd/herm")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build herm (run from the repository root): %w", err)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "HERM_API_KEY="+key, "HERM_RATE_LIMIT=-1", "HERM_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, dir: dir}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		// In JSON log mode the line is a record: {"msg":"listening on …","url":…}.
		var rec struct{ Msg, URL string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && strings.HasPrefix(rec.Msg, "listening on ") && rec.URL != "" {
			s.url = rec.URL
			break
		}
		if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			s.url = u
			break
		}
	}
	if s.url == "" {
		s.stop()
		return nil, errors.New("server did not start")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	s.c = herm.NewClient(s.url, key, herm.WithHTTPClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}),
		herm.WithMaxRetries(0)) // measured as sent: no retries, so no Idempotency-Key on POSTs
	return s, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	os.RemoveAll(s.dir)
}

func (s *server) create(i int) (*herm.Deployment, error) {
	return s.c.Deployments.Create(context.Background(), herm.DeploymentCreateParams{
		CustomerID: fmt.Sprintf("cus_%d", i), Name: "bench", SystemPrompt: "You are a benchmark.",
	})
}

func (s *server) waitReady(id string, poll time.Duration) error {
	for {
		d, err := s.c.Deployments.Get(context.Background(), id)
		if err != nil {
			return err
		}
		switch d.Status {
		case "ready":
			return nil
		case "error":
			return fmt.Errorf("deployment %s failed", id)
		}
		time.Sleep(poll)
	}
}

// percentiles prints p50/p90/p99/max of ds.
func percentiles(name string, ds []time.Duration) {
	slices.Sort(ds)
	p := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	fmt.Printf("%s: n=%d p50=%v p90=%v p99=%v max=%v\n", name, len(ds), p(0.50).Round(10*time.Microsecond),
		p(0.90).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
}

// provision measures create→ready: from sending POST /v1/deployments to
// reading its deployment_status "ready" event on the deployment's stream.
// The stream is opened right after the create returns, with Last-Event-ID
// evt_0, so the ready event is seen even if it came before the connection.
func provision(args []string) error {
	fs := flag.NewFlagSet("provision", flag.ExitOnError)
	n := fs.Int("n", 200, "deployments to create")
	_ = fs.Parse(args)
	s, err := start()
	if err != nil {
		return err
	}
	defer s.stop()
	var ds, polled []time.Duration
	for i := range *n {
		t0 := time.Now()
		d, err := s.create(i)
		if err != nil {
			return err
		}
		if err := waitEvent(s, d.DeploymentID, "deployment_status", `"ready"`); err != nil {
			return err
		}
		ds = append(ds, time.Since(t0))
		// The same by polling GET every millisecond, as a client without SSE would.
		t0 = time.Now()
		d, err = s.create(i)
		if err != nil {
			return err
		}
		if err := s.waitReady(d.DeploymentID, time.Millisecond); err != nil {
			return err
		}
		polled = append(polled, time.Since(t0))
	}
	percentiles("create→ready (deployment_status event)", ds)
	percentiles("create→ready (polling GET every 1 ms)", polled)
	return nil
}

// waitEvent reads the deployment's stream from the start until an event of
// the type whose data contains substr.
func waitEvent(s *server, id, typ, substr string) error {
	st, err := s.c.Events.Stream(context.Background(), id, herm.EventStreamParams{LastEventID: "evt_0"})
	if err != nil {
		return err
	}
	defer st.Close()
	for st.Next() {
		if e := st.Current(); e.Type == typ && strings.Contains(string(e.Data), substr) {
			return nil
		}
	}
	return fmt.Errorf("stream ended before %s %s: %v", typ, substr, st.Err())
}

// sse opens many streams on one deployment, sends messages (the offline
// demo model streams tokens), and measures for every event at every
// subscriber the delay between the event's created_at (set when it is
// appended) and its arrival.
func sse(args []string) error {
	fs := flag.NewFlagSet("sse", flag.ExitOnError)
	subs := fs.Int("subscribers", 1000, "concurrent SSE connections")
	messages := fs.Int("messages", 20, "messages to send, one after another")
	wordDelay := fs.Duration("word-delay", 0, "the demo model's pause between words (0 = as fast as possible; 20ms ≈ a real model's 50 tokens/s)")
	_ = fs.Parse(args)
	raiseNoFile(uint64(*subs)*2 + 256)
	s, err := start("HERM_DEMO_WORD_DELAY=" + wordDelay.String())
	if err != nil {
		return err
	}
	defer s.stop()
	d, err := s.create(0)
	if err != nil {
		return err
	}
	if err := s.waitReady(d.DeploymentID, 5*time.Millisecond); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var delays []time.Duration
	received := 0
	var ready, done sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: *subs, DialContext: (&net.Dialer{}).DialContext}
	hc := &http.Client{Transport: tr}
	for range *subs {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			// The stream is read raw rather than with the client's
			// Stream: decoding each event would be the client's work
			// measured as delivery delay.
			req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/v1/deployments/"+d.DeploymentID+"/events", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := hc.Do(req)
			if err != nil {
				ready.Done()
				fmt.Fprintln(os.Stderr, "subscribe:", err)
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			_, _ = br.ReadString('\n') // retry: 2000
			ready.Done()
			var local []time.Duration
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					break
				}
				if !strings.HasPrefix(line, "data: ") {
					continue
				}
				now := time.Now()
				// Only created_at is read, without decoding the whole
				// event: the client shares the server's two cores, and its
				// own work would otherwise be measured as delivery delay.
				if at, ok := createdAt(line); ok {
					local = append(local, now.Sub(at))
				}
			}
			mu.Lock()
			delays = append(delays, local...)
			received += len(local)
			mu.Unlock()
		}()
	}
	ready.Wait()
	t0 := time.Now()
	for i := range *messages {
		sent, err := s.c.Messages.Send(ctx, d.DeploymentID, herm.MessageSendParams{Content: fmt.Sprintf("message %d", i), Mode: "queue"})
		if err != nil {
			return err
		}
		if err := waitRun(s, d.DeploymentID, sent.RunID); err != nil {
			return err
		}
	}
	elapsed := time.Since(t0)
	time.Sleep(500 * time.Millisecond) // let the last frames arrive
	cancel()
	done.Wait()
	fmt.Printf("subscribers=%d events delivered=%d in %v (%.0f deliveries/s)\n", *subs, received, elapsed.Round(time.Millisecond), float64(received)/elapsed.Seconds())
	percentiles("SSE delivery delay (append → client)", delays)
	return nil
}

// createdAt finds an event's created_at in its JSON line.
func createdAt(line string) (time.Time, bool) {
	const key = `"created_at":"`
	i := strings.Index(line, key)
	if i < 0 {
		return time.Time{}, false
	}
	rest := line[i+len(key):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, rest[:j])
	return t, err == nil
}

func waitRun(s *server, dep, run string) error {
	for {
		r, err := s.c.Runs.Get(context.Background(), dep, run)
		if err != nil {
			return err
		}
		switch r.Status {
		case "completed":
			return nil
		case "error", "cancelled":
			return fmt.Errorf("run %s ended %s", run, r.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idle creates many deployments and reports the server's memory once they
// are all ready and idle.
func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	n := fs.Int("n", 10000, "deployments")
	workers := fs.Int("workers", 16, "concurrent creates")
	execFirst := fs.Bool("exec", false, "run one shell command in each deployment's sandbox first, then wait for the sandboxes to stop when idle")
	_ = fs.Parse(args)
	s, err := start("HERM_SANDBOX_IDLE_TIMEOUT=3s")
	if err != nil {
		return err
	}
	defer s.stop()
	rss0, _ := memory(s.cmd.Process.Pid)
	t0 := time.Now()
	var mu sync.Mutex
	var deps []string
	ids := make(chan int)
	errc := make(chan error, *workers)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				d, err := s.create(i)
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				deps = append(deps, d.DeploymentID)
				mu.Unlock()
			}
		}()
	}
	for i := range *n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	// Wait until none is provisioning.
	for {
		l, err := s.c.Deployments.List(context.Background(), herm.DeploymentListParams{Status: "provisioning", ListParams: herm.ListParams{Limit: 1}})
		if err != nil {
			return err
		}
		if len(l.Data) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	created := time.Since(t0)
	if *execFirst {
		t1 := time.Now()
		if err := s.execAll(deps, *workers); err != nil {
			return err
		}
		fmt.Printf("ran one shell command in each of %d sandboxes in %v; sandbox processes still running (stopped after 3 s idle) %d\n", len(deps), time.Since(t1).Round(time.Millisecond), peakChildren(s.cmd.Process.Pid))
		time.Sleep(4 * time.Second) // the idle timeout (3 s) stops them
	}
	time.Sleep(2 * time.Second) // settle
	fmt.Printf("processes under the server now: %d\n", len(descendants(s.cmd.Process.Pid)))
	rss, hwm := memory(s.cmd.Process.Pid)
	db, _ := os.Stat(filepath.Join(s.dir, "data", "herm.db"))
	var dbSize int64
	if db != nil {
		dbSize = db.Size()
	}
	fmt.Printf("deployments=%d created+ready in %v (%.0f/s)\n", *n, created.Round(time.Millisecond), float64(*n)/created.Seconds())
	fmt.Printf("server RSS: %s at start, %s with %d idle deployments (peak %s); herm.db %s\n",
		mib(rss0), mib(rss), *n, mib(hwm), mib(dbSize))
	return nil
}

// execAll sends "run: true" (the demo model calls the shell) to every
// deployment and waits for the runs.
func (s *server) execAll(deps []string, workers int) error {
	ch := make(chan string)
	errc := make(chan error, len(deps))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for id := range ch {
				m, err := s.c.Messages.Send(context.Background(), id, herm.MessageSendParams{Content: "run: true"})
				if err != nil {
					errc <- err
					continue
				}
				for {
					r, err := s.c.Runs.Get(context.Background(), id, m.RunID)
					if err != nil {
						errc <- err
						break
					}
					if r.Ended() {
						if r.Status != "completed" {
							errc <- fmt.Errorf("run %s: %s", m.RunID, r.Status)
						}
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	for _, id := range deps {
		ch <- id
	}
	close(ch)
	wg.Wait()
	close(errc)
	return <-errc
}

// peakChildren counts the server's descendant processes now.
func peakChildren(pid int) int { return len(descendants(pid)) }

// descendants lists the processes below pid.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(b)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// memory reads VmRSS and VmHWM (bytes) of a process.
func memory(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v * 1024
		case "VmHWM:":
			hwm = v * 1024
		}
	}
	return rss, hwm
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func raiseNoFile(n uint64) {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < n {
		l.Cur = min(n, l.Max)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
