package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// xss is text an attacker controls (a customer's deployment name, a user's
// message, an agent's answer, a memory): shown as HTML it would run script.
const xss = `<img src=x onerror=window.__xss=1><script>window.__xss=2</script><svg onload=window.__xss=3>`

// browser is a headless Chromium tab on a console, with what went wrong
// in the page (uncaught exceptions, CSP violations, console errors).
type browser struct {
	t        *testing.T
	ctx      context.Context
	base     string
	mu       sync.Mutex
	problems []string
	shots    string // where screenshots go ("" = none)
}

func newBrowser(t *testing.T, s *server) *browser {
	t.Helper()
	bin := os.Getenv("HERM_TEST_CHROMIUM")
	if bin == "" {
		t.Skip("HERM_TEST_CHROMIUM (the chromium binary) is not set")
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(bin), chromedp.WindowSize(1280, 900)}
	opts = append(opts, chromedp.DefaultExecAllocatorOptions[:]...)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's own sandbox refuses to run as root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	b := &browser{t: t, base: s.url}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelT)
	b.ctx = ctx
	if os.Getenv("HERM_CONSOLE_SCREENSHOTS") == "1" {
		b.shots = filepath.Join("..", "..", "docs", "console")
	}
	return b
}

func (b *browser) listen(ev any) {
	var p string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		p = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			p += " " + e.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if e.Entry.Source == log.EntrySourceNetwork {
			return // a 401 of the bad key, a 404 asked for on purpose
		}
		if e.Entry.Level == log.EntryLevelError || strings.Contains(e.Entry.Text, "Content Security Policy") {
			p = "log: " + e.Entry.Text
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			p = "console.error"
		}
	}
	if p != "" {
		b.mu.Lock()
		b.problems = append(b.problems, p)
		b.mu.Unlock()
	}
}

// do runs steps, failing the test with what the page reported.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\n%s", what, err, b.dump())
	}
}

func (b *browser) dump() string {
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("page problems: %v\npage:\n%s", b.problems, text)
}

// eval returns a JavaScript expression's value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v\n%s", expr, err, b.dump())
	}
	return v
}

// wait waits until a JavaScript expression is truthy.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
}

func (b *browser) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// submit submits the form of the element sel as the Enter key or its
// button would (form.submit() would skip the page's submit handler).
func submit(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).form.requestSubmit()`, sel))
}

// safe checks that no attacker-controlled text ran or became markup.
func (b *browser) safe(where string) {
	b.t.Helper()
	if v := eval[string](b, `String(window.__xss)`); v != "undefined" {
		b.t.Fatalf("%s: the attack ran (window.__xss = %s)", where, v)
	}
	if n := eval[int](b, `document.querySelectorAll("main img, main script, main svg, main [onerror], main [onload]").length`); n != 0 {
		b.t.Fatalf("%s: %d elements made from the server's text\n%s", where, n, b.dump())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Fatalf("%s: the page reported %v", where, b.problems)
	}
}

// The console in a real browser: sign in (a bad key refused), create a
// deployment, stream a run and reload in the middle of it without losing
// or repeating a token, approve a tool call, see the file it wrote, add
// and delete an automation and a memory — with attacker-controlled text
// everywhere, which must show as text and never run.
func TestConsole(t *testing.T) {
	if os.Getenv("HERM_TEST_CHROMIUM") == "" {
		t.Skip("HERM_TEST_CHROMIUM (the chromium binary) is not set")
	}
	s := startServerWith(t, nil, func(c *config) { c.DemoWordDelay = 40 * time.Millisecond })
	b := newBrowser(t, s)
	q := func(v string) string { return fmt.Sprintf("%q", v) } // a JavaScript string literal

	// Sign in: /console redirects to the page, which asks for a key.
	b.do("open", chromedp.Navigate(s.url+"/console"), chromedp.WaitVisible(chromedp.CSS("#api-key")))
	if loc := eval[string](b, `location.pathname`); loc != "/console/signin" {
		t.Fatalf("location %q", loc)
	}
	b.do("bad key", chromedp.SendKeys(chromedp.CSS("#api-key"), "herm_wrong"), submit("#api-key"))
	b.wait("the bad key's error", `document.querySelector("#signin-error")?.textContent.includes("did not accept")`)
	if k := eval[string](b, `String(sessionStorage.getItem("herm.console.apiKey"))`); k != "null" {
		t.Fatalf("a refused key was kept: %q", k)
	}
	b.shot("signin")
	b.do("good key", chromedp.SetValue(chromedp.CSS("#api-key"), s.key), submit("#api-key"),
		chromedp.WaitVisible(chromedp.CSS("#create-deployment")))

	// A deployment whose name is an attack, with write_file needing approval.
	b.do("create", chromedp.SendKeys(chromedp.CSS("#dep-name"), "Acme "+xss), chromedp.SendKeys(chromedp.CSS("#dep-customer"), "cus_console"),
		chromedp.SetValue(chromedp.CSS("#dep-approval"), "write_file"), submit("#dep-name"))
	b.wait("ready", `document.querySelector("#config-title") && document.querySelector("main .badge-ready")`)
	dep := strings.TrimPrefix(eval[string](b, `location.pathname`), "/console/deployments/")
	d := s.must(200, "GET", "/v1/deployments/"+dep, nil)
	if d["name"] != "Acme "+xss || d["customer_id"] != "cus_console" || d["status"] != "ready" {
		t.Fatalf("created %v", d)
	}
	if perm := d["tools"].(map[string]any)["write_file"].(map[string]any)["permission"]; perm != "always_ask" {
		t.Fatalf("write_file permission %v", perm)
	}
	if h1 := eval[string](b, `document.querySelector("h1").textContent`); h1 != "Acme "+xss {
		t.Fatalf("heading %q", h1)
	}
	b.safe("deployment")
	b.shot("deployment")

	// A second deployment, so that the list is a list.
	s.must(201, "POST", "/v1/deployments", map[string]any{"customer_id": "cus_other", "name": "Globex support", "system_prompt": "Be brief."})
	b.do("list", chromedp.Click(chromedp.CSS(`#nav a[href="/console/deployments"]`)), chromedp.WaitVisible(chromedp.CSS("#deployments tbody tr")))
	b.wait("both listed", `document.querySelectorAll("#deployments tbody tr").length === 2`)
	if !eval[bool](b, `document.querySelector("#deployments").textContent.includes(`+q("Acme "+xss)+`)`) {
		t.Fatalf("the list lacks the name as text\n%s", b.dump())
	}
	b.safe("list")
	b.shot("deployments")

	// The default thread: a message streams back token by token.
	b.do("detail", chromedp.Click(chromedp.CSS(`#deployments a[href="/console/deployments/`+dep+`"]`)), chromedp.WaitVisible(chromedp.CSS("#threads a")),
		chromedp.Click(chromedp.CSS("#threads a")), chromedp.WaitVisible(chromedp.CSS("#composer-text")))
	b.wait("stream live", `document.querySelector("#stream-state")?.dataset.state === "live" && !document.querySelector("#send").disabled`)
	content := "Please write a short poem about lighthouses and the sea, in four lines. " + xss
	b.do("send", chromedp.SendKeys(chromedp.CSS("#composer-text"), content), chromedp.Click(chromedp.CSS("#send")))
	b.wait("tokens", `document.querySelector(".run .msg-agent.streaming .content")?.textContent.length > 60`)
	b.safe("streaming")
	b.shot("thread")
	runID := eval[string](b, `document.querySelector(".run").dataset.runId`)
	if r := s.must(200, "GET", "/v1/deployments/"+dep+"/runs/"+runID, nil); r["status"] != "running" {
		t.Logf("the run was %v at the reload (the reload may not have been mid-run)", r["status"])
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#composer-text")))
	b.wait("completed", `[...document.querySelectorAll(".run")].find(e => e.dataset.runId === `+q(runID)+`)?.dataset.status === "completed"`)
	msgs := s.must(200, "GET", "/v1/deployments/"+dep+"/threads/"+d["thread_id"].(string), nil)["messages"].([]any)
	if len(msgs) != 2 {
		t.Fatalf("messages %v", msgs)
	}
	answer := msgs[1].(map[string]any)["content"].(string)
	if !strings.Contains(answer, "lighthouses") {
		t.Fatalf("answer %q", answer)
	}
	// What the page streamed, before and after the reload, is the answer
	// exactly: no token lost, none repeated.
	shown := eval[[]string](b, `[...document.querySelectorAll(".run .msg-agent .content")].map(e => e.textContent)`)
	if len(shown) != 1 || shown[0] != answer {
		t.Fatalf("shown %q\nwant %q", shown, answer)
	}
	users := eval[[]string](b, `[...document.querySelectorAll("main .msg-user .content")].map(e => e.textContent)`)
	if len(users) != 1 || users[0] != content {
		t.Fatalf("user messages shown %q", users)
	}
	if u := eval[string](b, `document.querySelector(".run .usage").textContent`); !strings.Contains(u, "1 model call") {
		t.Fatalf("usage %q", u)
	}
	b.safe("after the reload")

	// Approval: the tool waits for the button.
	b.wait("stream live again", `document.querySelector("#stream-state")?.dataset.state === "live" && !document.querySelector("#send").disabled`)
	b.do("ask for a tool", chromedp.SendKeys(chromedp.CSS("#composer-text"), `/tool write_file {"path": "notes/approved.txt", "content": "yes"}`), chromedp.Click(chromedp.CSS("#send")))
	b.wait("approval", `document.querySelector(".steering button.approve")`)
	if r := s.do("GET", "/v1/deployments/"+dep+"/files/content?path=notes/approved.txt", nil); r.status != 404 {
		t.Fatalf("the tool ran before the approval: %d", r.status)
	}
	b.shot("steering")
	b.do("approve", chromedp.Click(chromedp.CSS(".steering button.approve")))
	b.wait("resolved", `document.querySelector(".steering.resolved")?.dataset.decision === "approve"`)
	b.wait("second run completed", `[...document.querySelectorAll(".run")].length === 2 && document.querySelectorAll(".run")[1].dataset.status === "completed"`)
	if r := s.do("GET", "/v1/deployments/"+dep+"/files/content?path=notes/approved.txt", nil); string(r.body) != "yes" {
		t.Fatalf("approved.txt: %d %q", r.status, r.body)
	}
	if tool := eval[string](b, `document.querySelector(".run:last-child details.tool").textContent`); !strings.Contains(tool, "write_file") || !strings.Contains(tool, "done") {
		t.Fatalf("tool call shown as %q", tool)
	}
	b.safe("steering")

	// Cancel: a run stopped from its button ends cancelled, and the button
	// goes.
	b.wait("stream live for a third run", `document.querySelector("#stream-state")?.dataset.state === "live" && !document.querySelector("#send").disabled`)
	b.do("send a long one", chromedp.SendKeys(chromedp.CSS("#composer-text"), strings.Repeat("Tell me about the tides and the moon. ", 20)), chromedp.Click(chromedp.CSS("#send")))
	b.wait("third run streaming", `document.querySelectorAll(".run").length === 3 && document.querySelectorAll(".run")[2].querySelector(".msg-agent.streaming .content")?.textContent.length > 20`)
	// The button is clicked from the page: the streaming text moves it
	// between chromedp's reading of its position and its mouse click.
	eval[bool](b, `(document.querySelectorAll(".run")[2].querySelector("button.cancel-run").click(), true)`)
	b.wait("cancelled", `document.querySelectorAll(".run")[2].dataset.status === "cancelled" && document.querySelectorAll(".run")[2].querySelector("button.cancel-run").hidden`)
	third := eval[string](b, `document.querySelectorAll(".run")[2].dataset.runId`)
	if r := s.must(200, "GET", "/v1/deployments/"+dep+"/runs/"+third, nil); r["status"] != "cancelled" {
		t.Fatalf("the run is %v after Cancel run", r["status"])
	}
	if eval[bool](b, `!document.querySelectorAll(".run")[0].querySelector("button.cancel-run").hidden`) {
		t.Fatal("a completed run offers to cancel it")
	}

	// Files: the directory, then the file.
	b.do("files", chromedp.Click(chromedp.CSS(`#nav a[href$="/files"]`)), chromedp.WaitVisible(chromedp.CSS("#files")))
	b.do("dir", chromedp.Click(chromedp.CSS(`#files a[href*="notes%2F"]`)))
	b.wait("file listed", `document.querySelector("#files")?.textContent.includes("approved.txt")`)
	b.do("view", chromedp.Click(chromedp.CSS(`#files a[href*="view="]`)))
	b.wait("content", `document.querySelector("#file-content")?.textContent === "yes"`)
	b.safe("files")
	b.shot("files")

	// Automations: add one, then delete it.
	b.do("automations", chromedp.Click(chromedp.CSS(`#nav a[href$="/automations"]`)), chromedp.WaitVisible(chromedp.CSS("#create-automation")),
		chromedp.SendKeys(chromedp.CSS("#auto-name"), "Weekly report "+xss), chromedp.SendKeys(chromedp.CSS("#auto-schedule"), "every Monday at 9am"),
		chromedp.SendKeys(chromedp.CSS("#auto-instructions"), "Summarise the week's work."), submit("#auto-name"))
	b.wait("automation listed", `document.querySelector("#automations")?.textContent.includes("Weekly report")`)
	if l := s.must(200, "GET", "/v1/deployments/"+dep+"/automations", nil)["data"].([]any); len(l) != 1 || l[0].(map[string]any)["name"] != "Weekly report "+xss {
		t.Fatalf("automations %v", l)
	}
	b.safe("automations")
	b.shot("automations")
	b.do("delete automation", chromedp.Click(chromedp.CSS("#automations button.delete")), chromedp.Click(chromedp.CSS("#automations button.delete")))
	b.wait("automation gone", `document.querySelector("#automations")?.textContent.includes("No automations.")`)
	if l := s.must(200, "GET", "/v1/deployments/"+dep+"/automations", nil)["data"].([]any); len(l) != 0 {
		t.Fatalf("automations after the delete %v", l)
	}

	// Memories: add one, then delete it.
	b.do("memories", chromedp.Click(chromedp.CSS(`#nav a[href$="/memories"]`)), chromedp.WaitVisible(chromedp.CSS("#create-memory")),
		chromedp.SendKeys(chromedp.CSS("#mem-content"), "Prefers short answers. "+xss), submit("#mem-content"))
	b.wait("memory listed", `document.querySelector("#memories")?.textContent.includes("Prefers short answers.")`)
	b.safe("memories")
	b.shot("memories")
	b.do("delete memory", chromedp.Click(chromedp.CSS("#memories button.delete")), chromedp.Click(chromedp.CSS("#memories button.delete")))
	b.wait("memory gone", `document.querySelector("#memories")?.textContent.includes("No memories.")`)
	if l := s.must(200, "GET", "/v1/deployments/"+dep+"/memories", nil)["data"].([]any); len(l) != 0 {
		t.Fatalf("memories after the delete %v", l)
	}
	b.safe("the end")
}
