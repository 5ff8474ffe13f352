package herm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// testRules are the settings validation is tested under: two providers,
// two sandbox drivers, a vault that knows sec_ours (and refuses
// sec_theirs), a snapshot snap_ok for customer c, and a skill resolver
// that refuses content saying BROKEN.
func testRules() Rules {
	n := 0
	return Rules{
		DefaultModel:   "demo/demo",
		KnownProvider:  func(p string) bool { return p == "demo" || p == "openai" },
		Providers:      []string{"demo", "openai"},
		SandboxTypes:   []string{"local", "docker"},
		DefaultSandbox: "local",
		CheckSecretRef: func(_ context.Context, id, customer string) error {
			if id == "sec_theirs" {
				return Errorf(EInvalidSecretRef, "secret %s belongs to another customer", id)
			}
			return nil
		},
		CheckSnapshot: func(id, customer string) error {
			if id == "snap_ok" && customer == "c" {
				return nil
			}
			return Errorf(ENotFound, "no snapshot %s", id)
		},
		ResolveSkill: func(_ context.Context, s Skill, _ *Deployment) (Skill, error) {
			if strings.Contains(s.Content, "BROKEN") {
				return Skill{}, Errorf(EInvalid, "front matter has no description")
			}
			return s, nil
		},
		NewSkillID: func() string { n++; return fmt.Sprintf("skl_%d", n) },
		Tools:      testTools{},
	}
}

// testTools answers as the server's tool catalog (tools.Catalog) does: a
// few built-in tools, and web_search and browser, which it lacks.
type testTools struct{}

func (testTools) BuiltinTools() []string {
	return []string{"ask_human", "read_file", "shell", "subagents", "todo", "write_file"}
}

func (testTools) UnavailableTool(name string) (string, bool) {
	switch name {
	case "web_search", "browser":
		return name + " (not here)", true
	}
	return "", false
}

// input decodes a request body as the API does.
func input(t testing.TB, body string) *DeploymentInput {
	t.Helper()
	var in DeploymentInput
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return &in
}

// withBase adds the required fields to a JSON object's fields.
func withBase(fields string) string {
	if fields == "" {
		return `{"customer_id":"c","name":"n","system_prompt":"p"}`
	}
	return `{"customer_id":"c","name":"n","system_prompt":"p",` + fields + `}`
}

func rep(s string, n int) string { return strings.Repeat(s, n) }

// list returns n JSON items made by item(i), comma separated.
func list(n int, item func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = item(i)
	}
	return strings.Join(parts, ",")
}

func checkErr(t testing.TB, err error, code, mentions string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %s mentioning %q", code, mentions)
	}
	if ErrorCode(err) != code || !strings.Contains(ErrorMessage(err), mentions) {
		t.Fatalf("got %v; want %s mentioning %q", err, code, mentions)
	}
}

// TestCreateRefuses: every limit of the contract's create request, each
// refusal a validation_error (or the contract's own code) naming the field.
func TestCreateRefuses(t *testing.T) {
	t.Parallel()
	mcp := func(fields string) string {
		return `"mcp_servers":[{"name":"m","url":"https://mcp.example.com"` + fields + `}]`
	}
	skill := func(fields string) string { return `"skills":[` + fields + `]` }
	for _, c := range []struct {
		name, body string
		code       string // EInvalid when empty
		mentions   string
	}{
		{"customer_id missing", `{"name":"n","system_prompt":"p"}`, "", "customer_id"},
		{"name missing", `{"customer_id":"c","system_prompt":"p"}`, "", "name"},
		{"system_prompt missing", `{"customer_id":"c","name":"n"}`, "", "system_prompt"},
		{"customer_id too long", `{"customer_id":"` + rep("c", MaxCustomerID+1) + `","name":"n","system_prompt":"p"}`, "", "customer_id must be at most 255"},
		{"customer_id blank", `{"customer_id":"  ","name":"n","system_prompt":"p"}`, "", "customer_id must not be empty"},
		{"name too long", `{"customer_id":"c","name":"` + rep("é", MaxName+1) + `","system_prompt":"p"}`, "", "name must be at most 200"},
		{"name empty", `{"customer_id":"c","name":"","system_prompt":"p"}`, "", "name must not be empty"},
		{"system_prompt too long", `{"customer_id":"c","name":"n","system_prompt":"` + rep("p", MaxSystemPrompt+1) + `"}`, "", "system_prompt must be at most 100000"},
		{"system_prompt blank", `{"customer_id":"c","name":"n","system_prompt":" \n"}`, "", "system_prompt must not be empty"},
		{"runtime other", withBase(`"runtime":"langchain"`), "", "runtime"},
		{"model without provider", withBase(`"model":"gpt-4.1"`), "", "model must be provider/model"},
		{"model without name", withBase(`"model":"openai/"`), "", "model must be provider/model"},
		{"model of an unknown provider", withBase(`"model":"nope/x"`), "", "demo, openai"},
		{"sandbox.type unavailable", withBase(`"sandbox":{"type":"vm"}`), "", "sandbox.type \"vm\" is not available on this server (available: local, docker)"},
		{"sandbox.persistent_filesystem false", withBase(`"sandbox":{"persistent_filesystem":false}`), "", "sandbox.persistent_filesystem"},
		{"sandbox.resources.cpu negative", withBase(`"sandbox":{"resources":{"cpu":-1}}`), "", "sandbox.resources.cpu"},
		{"sandbox.resources.cpu too many", withBase(`"sandbox":{"resources":{"cpu":257}}`), "", "sandbox.resources.cpu"},
		{"sandbox.resources.memory_mb negative", withBase(`"sandbox":{"resources":{"memory_mb":-1}}`), "", "sandbox.resources.memory_mb"},
		{"sandbox.resources.disk_mb negative", withBase(`"sandbox":{"resources":{"disk_mb":-1}}`), "", "sandbox.resources.disk_mb"},
		{"sandbox.resources.pids negative", withBase(`"sandbox":{"resources":{"pids":-1}}`), "", "sandbox.resources.pids"},
		{"sandbox.network.egress unknown", withBase(`"sandbox":{"network":{"egress":"wide"}}`), "", "sandbox.network.egress must be none, proxy or open"},
		{"sandbox.network.egress open not allowed", withBase(`"sandbox":{"network":{"egress":"open"}}`), "", "sandbox.network.egress \"open\""},
		{"sandbox.network.allowed_hosts too many", withBase(`"sandbox":{"network":{"allowed_hosts":[` + list(MaxAllowedHosts+1, func(i int) string { return fmt.Sprintf(`"h%d.example.com"`, i) }) + `]}}`), "", "sandbox.network.allowed_hosts can hold at most 100"},
		{"sandbox.network.allowed_hosts not a host", withBase(`"sandbox":{"network":{"allowed_hosts":["api.example.com/v1"]}}`), "", "sandbox.network.allowed_hosts: \"api.example.com/v1\""},
		{"sandbox.network.allowed_hosts inner wildcard", withBase(`"sandbox":{"network":{"allowed_hosts":["api.*.example.com"]}}`), "", "sandbox.network.allowed_hosts"},
		{"mcp_servers too many", withBase(`"mcp_servers":[` + list(MaxMCPServers+1, func(i int) string { return fmt.Sprintf(`{"name":"m%d","url":"https://mcp.example.com"}`, i) }) + `]`), "", "mcp_servers can hold at most 20"},
		{"mcp_servers name uppercase", withBase(`"mcp_servers":[{"name":"Acme","url":"https://mcp.example.com"}]`), "", "mcp_servers[0].name"},
		{"mcp_servers name too long", withBase(`"mcp_servers":[{"name":"` + rep("m", 33) + `","url":"https://mcp.example.com"}]`), "", "mcp_servers[0].name"},
		{"mcp_servers name with __", withBase(`"mcp_servers":[{"name":"a__b","url":"https://mcp.example.com"}]`), "", "mcp_servers[0].name must not contain \"__\""},
		{"mcp_servers name ending in _", withBase(`"mcp_servers":[{"name":"ab_","url":"https://mcp.example.com"}]`), "", "mcp_servers[0].name"},
		{"mcp_servers name twice", withBase(`"mcp_servers":[{"name":"m","url":"https://a.example.com"},{"name":"m","url":"https://b.example.com"}]`), "", "mcp_servers[1].name \"m\" is used twice"},
		{"mcp_servers url not absolute", withBase(`"mcp_servers":[{"name":"m","url":"/mcp"}]`), "", "mcp_servers[0].url must be an absolute URL"},
		{"mcp_servers url ftp", withBase(`"mcp_servers":[{"name":"m","url":"ftp://mcp.example.com"}]`), "", "mcp_servers[0].url must be an https URL"},
		{"mcp_servers url http", withBase(`"mcp_servers":[{"name":"m","url":"http://mcp.example.com"}]`), "", "mcp_servers[0].url must use https"},
		{"mcp_servers url with credentials", withBase(`"mcp_servers":[{"name":"m","url":"https://u:p@mcp.example.com"}]`), "", "mcp_servers[0].url must not contain credentials"},
		{"mcp_servers tools empty name", withBase(mcp(`,"tools":[""]`)), "", "mcp_servers[0].tools"},
		{"mcp_servers tools long name", withBase(mcp(`,"tools":["` + rep("t", 129) + `"]`)), "", "mcp_servers[0].tools"},
		{"mcp_servers header name", withBase(mcp(`,"headers":{"Bad Header":"x"}`)), "", "mcp_servers[0].headers: \"Bad Header\""},
		{"mcp_servers X-Herm header", withBase(mcp(`,"headers":{"X-Herm-Customer-Id":"other"}`)), "", "mcp_servers[0].headers"},
		{"mcp_servers permission", withBase(mcp(`,"permission":"sometimes"`)), "", "mcp_servers[0].permission"},
		{"mcp_servers header secret not the deployment's", withBase(mcp(`,"headers":{"Authorization":"Bearer ${TOKEN}"}`)), EInvalidSecretRef, "mcp_servers[0].headers.Authorization uses ${TOKEN}"},
		{"skills too many", withBase(skill(list(MaxSkills+1, func(i int) string { return fmt.Sprintf(`{"name":"s%d","source":"inline","content":"x"}`, i) }))), "", "skills can hold at most 20"},
		{"skills name uppercase", withBase(skill(`{"name":"Brand","source":"inline","content":"x"}`)), "", "skills[0].name"},
		{"skills name double hyphen", withBase(skill(`{"name":"a--b","source":"inline","content":"x"}`)), "", "skills[0].name"},
		{"skills name too long", withBase(skill(`{"name":"` + rep("s", 65) + `","source":"inline","content":"x"}`)), "", "skills[0].name"},
		{"skills name empty", withBase(skill(`{"name":"","source":"inline","content":"x"}`)), "", "skills[0].name"},
		{"skills name twice", withBase(skill(`{"name":"s","source":"inline","content":"x"},{"name":"s","source":"inline","content":"y"}`)), "", "skills[1].name \"s\" is used twice"},
		{"skills source unknown", withBase(skill(`{"name":"s","source":"git"}`)), "", "skills[0].source must be file, inline or url"},
		{"skills inline without content", withBase(skill(`{"name":"s","source":"inline","content":"  "}`)), "", "skills[0].content"},
		{"skills url not https", withBase(skill(`{"name":"s","source":"url","url":"http://x.example.com/SKILL.md"}`)), "", "skills[0].url"},
		{"skills file absolute", withBase(skill(`{"name":"s","source":"file","path":"/etc/SKILL.md"}`)), "", "skills[0].path"},
		{"skills file escaping", withBase(skill(`{"name":"s","source":"file","path":"a/../../SKILL.md"}`)), "", "skills[0].path"},
		{"skills file no path", withBase(skill(`{"name":"s","source":"file"}`)), "", "skills[0].path"},
		{"skills that do not parse", withBase(skill(`{"name":"s","source":"inline","content":"BROKEN"}`)), EInvalidSkill, "skills[0] (s): front matter has no description"},
		{"secrets name", withBase(`"secrets":{"1TOKEN":"sec_ours"}`), "", "secrets: \"1TOKEN\""},
		{"secrets name with dash", withBase(`"secrets":{"MY-TOKEN":"sec_ours"}`), "", "secrets: \"MY-TOKEN\""},
		{"secrets name too long", withBase(`"secrets":{"` + rep("A", 129) + `":"sec_ours"}`), "", "secrets:"},
		{"secrets value not a reference", withBase(`"secrets":{"TOKEN":"hunter2"}`), "", "secrets.TOKEN must be a secret reference"},
		{"secrets value too long", withBase(`"secrets":{"TOKEN":"sec_` + rep("x", 252) + `"}`), "", "secrets.TOKEN"},
		{"secrets of another customer", withBase(`"secrets":{"TOKEN":"sec_theirs"}`), EInvalidSecretRef, "secrets.TOKEN: secret sec_theirs belongs to another customer"},
		{"features unknown", withBase(`"features":{"telepathy":true}`), "", "features: unknown feature \"telepathy\""},
		{"tools unknown", withBase(`"tools":{"teleport":{"enabled":true}}`), "", "tools: \"teleport\""},
		{"tools permission", withBase(`"tools":{"shell":{"permission":"sometimes"}}`), "", "tools.shell.permission must be always_allow or always_ask"},
		{"tools web_search enabled", withBase(`"tools":{"web_search":{"enabled":true}}`), "", "tools.web_search"},
		{"tools browser with a permission", withBase(`"tools":{"browser":{"enabled":false,"permission":"always_ask"}}`), "", "tools.browser"},
		{"tools MCP name with a bad server", withBase(`"tools":{"Bad__x":{"enabled":false}}`), "", "tools: \"Bad__x\""},
		{"metadata too many", withBase(`"metadata":{` + list(MaxMetadata+1, func(i int) string { return fmt.Sprintf(`"k%d":"v"`, i) }) + `}`), "", "metadata can hold at most 16"},
		{"metadata key too long", withBase(`"metadata":{"` + rep("k", MaxMetadataKey+1) + `":"v"}`), "", "metadata keys must be 1 to 40"},
		{"metadata key empty", withBase(`"metadata":{"":"v"}`), "", "metadata keys"},
		{"metadata value too long", withBase(`"metadata":{"plan":"` + rep("v", MaxMetadataVal+1) + `"}`), "", "metadata.plan must be at most 500"},
		{"budget_usd negative", withBase(`"budget_usd":-0.01`), "", "budget_usd"},
		{"budget_usd too large", withBase(`"budget_usd":1e10`), "", "budget_usd"},
		{"restore_snapshot_id unknown", withBase(`"restore_snapshot_id":"snap_nope"`), "", "restore_snapshot_id: no snapshot snap_nope"},
		{"restore_snapshot_id of another customer", `{"customer_id":"d","name":"n","system_prompt":"p","restore_snapshot_id":"snap_ok"}`, "", "restore_snapshot_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code := c.code
			if code == "" {
				code = EInvalid
			}
			_, err := NewDeployment(context.Background(), input(t, c.body), testRules())
			checkErr(t, err, code, c.mentions)
		})
	}
}

// TestCreateAccepts: the values at each limit are accepted, and the
// defaults are resolved.
func TestCreateAccepts(t *testing.T) {
	t.Parallel()
	r := testRules()
	r.AllowOpenEgress = true
	body := `{"customer_id":"` + rep("c", MaxCustomerID) + `","name":"` + rep("é", MaxName) + `","system_prompt":"` + rep("p", MaxSystemPrompt) + `",
		"runtime":"hermes","model":"openai/gpt-4.1","budget_usd":0,
		"sandbox":{"type":"docker","resources":{"cpu":256,"memory_mb":0,"pids":64},"network":{"egress":"open","allowed_hosts":[` +
		list(MaxAllowedHosts-2, func(i int) string { return fmt.Sprintf(`"h%d.example.com"`, i) }) + `,"*.Example.ORG.","10.0.0.1"]}},
		"mcp_servers":[` + list(MaxMCPServers, func(i int) string {
		return fmt.Sprintf(`{"name":"m-%d_x","url":"https://mcp.example.com","tools":["%s"],"permission":"always_ask"}`, i, rep("t", 128))
	}) + `],
		"skills":[` + list(MaxSkills-1, func(i int) string { return fmt.Sprintf(`{"name":"s-%d","source":"inline","content":"x"}`, i) }) +
		`,{"name":"` + rep("s", 64) + `","source":"file","path":"skills/a/SKILL.md"}],
		"secrets":{"_T":"sec_ours","` + rep("A", 128) + `":"sec_` + rep("x", 251) + `"},
		"features":{"dreaming":true,"dreaming_review":true,"memory":false,"filesystem_webhooks":true},
		"tools":{"shell":{"permission":"always_ask"},"web_search":{"enabled":false},"srv__tool":{"enabled":false}},
		"metadata":{` + list(MaxMetadata-1, func(i int) string { return fmt.Sprintf(`"k%d":"v"`, i) }) + `,"` + rep("k", MaxMetadataKey) + `":"` + rep("v", MaxMetadataVal) + `"}}`
	d, err := NewDeployment(context.Background(), input(t, body), r)
	if err != nil {
		t.Fatal(err)
	}
	if d.Runtime != RuntimeHermes || d.Model != "openai/gpt-4.1" || d.BudgetUSD == nil || *d.BudgetUSD != 0 {
		t.Errorf("runtime %q model %q budget %v", d.Runtime, d.Model, d.BudgetUSD)
	}
	if d.Sandbox.Type != "docker" || !d.Sandbox.Enabled || !d.Sandbox.PersistentFilesystem || d.Sandbox.Resources != (Resources{CPU: 256, PIDs: 64}) || d.Sandbox.Network.Egress != EgressOpen {
		t.Errorf("sandbox %+v", d.Sandbox)
	}
	if hs := d.Sandbox.Network.AllowedHosts; len(hs) != MaxAllowedHosts || hs[MaxAllowedHosts-2] != "*.example.org" {
		t.Errorf("allowed hosts not normalised: %d, %q", len(hs), hs[len(hs)-2:])
	}
	if len(d.MCPServers) != MaxMCPServers || len(d.Skills) != MaxSkills || len(d.Secrets) != 2 || len(d.Metadata) != MaxMetadata {
		t.Errorf("counts: %d servers, %d skills, %d secrets, %d metadata", len(d.MCPServers), len(d.Skills), len(d.Secrets), len(d.Metadata))
	}
	if d.Features != (Features{Memory: false, Dreaming: true, DreamingReview: true, Automations: true, Steering: true, FilesystemWebhooks: true}) {
		t.Errorf("features %+v", d.Features)
	}
	if len(d.Tools) != 3 || d.Tools["shell"].Permission != PermissionAlwaysAsk {
		t.Errorf("tools %+v", d.Tools)
	}
	for i, s := range d.Skills {
		if s.SkillID == "" || s.CreatedAt.IsZero() {
			t.Errorf("skill %d: %+v", i, s)
		}
	}

	// Nothing but the required fields: the contract's defaults.
	d, err = NewDeployment(context.Background(), input(t, withBase(`"budget_usd":null,"features":null,"sandbox":{"network":{"egress":""}}`)), testRules())
	if err != nil {
		t.Fatal(err)
	}
	want := Sandbox{Enabled: true, Type: "local", PersistentFilesystem: true, Network: Network{Egress: EgressProxy, AllowedHosts: []string{}}}
	if d.Runtime != RuntimeHermes || d.Model != "demo/demo" || d.BudgetUSD != nil || d.Features != DefaultFeatures() ||
		fmt.Sprint(d.Sandbox) != fmt.Sprint(want) || d.Secrets == nil || d.Tools == nil || d.Metadata == nil {
		t.Errorf("defaults: %+v", d)
	}
	if d.MCPServers != nil || d.Skills != nil {
		t.Errorf("lists: %v %v", d.MCPServers, d.Skills)
	}
	// With a snapshot of its customer.
	d, err = NewDeployment(context.Background(), input(t, withBase(`"restore_snapshot_id":"snap_ok"`)), testRules())
	if err != nil || d.RestoreSnapshotID != "snap_ok" {
		t.Fatalf("restore: %v %v", d, err)
	}
	// A server without snapshots refuses it.
	r = testRules()
	r.CheckSnapshot = nil
	_, err = NewDeployment(context.Background(), input(t, withBase(`"restore_snapshot_id":"snap_ok"`)), r)
	checkErr(t, err, EInvalid, "restore_snapshot_id is not supported")
}

// Invalid UTF-8 cannot come through JSON (the decoder replaces it), but
// validation refuses it from any caller.
func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	bad := "a\xffb"
	ok := "ok"
	for _, c := range []struct {
		field string
		in    DeploymentInput
	}{
		{"customer_id", DeploymentInput{CustomerID: &bad, Name: &ok, SystemPrompt: &ok}},
		{"name", DeploymentInput{CustomerID: &ok, Name: &bad, SystemPrompt: &ok}},
		{"system_prompt", DeploymentInput{CustomerID: &ok, Name: &ok, SystemPrompt: &bad}},
	} {
		_, err := NewDeployment(context.Background(), &c.in, testRules())
		checkErr(t, err, EInvalid, c.field+" must be valid UTF-8")
	}
	checkErr(t, ValidateThreadTitle(bad), EInvalid, "title must be valid UTF-8")
	checkErr(t, ValidateMessage(bad, nil), EInvalid, "content must be valid UTF-8")
}

// Unknown fields are refused by the decoder, naming the field, at the top
// level and inside nested objects.
func TestUnknownFields(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ body, field string }{
		{withBase(`"colour":1`), "colour"},
		{withBase(`"sandbox":{"gpu":true}`), "gpu"},
		{withBase(`"sandbox":{"network":{"egres":"none"}}`), "egres"},
		{withBase(`"tools":{"shell":{"enabeld":true}}`), "enabeld"},
	} {
		var in DeploymentInput
		err := json.Unmarshal([]byte(c.body), &in)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v", c.body, err)
		}
	}
}

// base is a deployment with something in every mergeable part.
func base(t testing.TB, r Rules) *Deployment {
	t.Helper()
	d, err := NewDeployment(context.Background(), input(t, withBase(`"model":"openai/gpt-4.1","budget_usd":5,
		"sandbox":{"enabled":true,"resources":{"cpu":2,"memory_mb":512},"network":{"egress":"none","allowed_hosts":["a.example.com"]}},
		"mcp_servers":[{"name":"crm","url":"https://crm.example.com"}],
		"skills":[{"name":"voice","source":"inline","content":"v1"},{"name":"tone","source":"inline","content":"t1"}],
		"secrets":{"A":"sec_a","B":"sec_b"},
		"features":{"memory":false,"filesystem_webhooks":true},
		"tools":{"shell":{"permission":"always_ask"},"read_file":{"enabled":false}},
		"metadata":{"plan":"pro","region":"eu"}`)), r)
	if err != nil {
		t.Fatal(err)
	}
	d.ID, d.ConfigVersion, d.Status = "dep_1", 1, DeploymentReady
	return d
}

// TestUpdateRefuses: immutables, nulls where they are refused, and the
// create rules again on what a PATCH sends.
func TestUpdateRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, body string
		code       string
		mentions   string
	}{
		{"customer_id changed", `{"customer_id":"other"}`, "", "customer_id is immutable"},
		{"runtime changed", `{"runtime":"other"}`, "", "runtime is immutable"},
		{"sandbox.type changed", `{"sandbox":{"type":"docker"}}`, "", "sandbox.type is immutable (it is \"local\")"},
		{"restore_snapshot_id", `{"restore_snapshot_id":"snap_ok"}`, "", "restore_snapshot_id: only when creating"},
		{"customer_id null", `{"customer_id":null}`, "", "customer_id cannot be null"},
		{"name null", `{"name":null}`, "", "name cannot be null"},
		{"system_prompt null", `{"system_prompt":null}`, "", "system_prompt cannot be null"},
		{"model null", `{"model":null}`, "", "model cannot be null"},
		{"runtime null", `{"runtime":null}`, "", "runtime cannot be null"},
		{"sandbox null", `{"sandbox":null}`, "", "sandbox cannot be null"},
		{"mcp_servers null", `{"mcp_servers":null}`, "", "mcp_servers cannot be null"},
		{"skills null", `{"skills":null}`, "", "skills cannot be null"},
		{"secrets null", `{"secrets":null}`, "", "secrets cannot be null"},
		{"features null", `{"features":null}`, "", "features cannot be null"},
		{"tools null", `{"tools":null}`, "", "tools cannot be null"},
		{"metadata null", `{"metadata":null}`, "", "metadata cannot be null"},
		{"sandbox.enabled null", `{"sandbox":{"enabled":null}}`, "", "sandbox.enabled cannot be null"},
		{"sandbox.network null", `{"sandbox":{"network":null}}`, "", "sandbox.network cannot be null"},
		{"sandbox.resources null", `{"sandbox":{"resources":null}}`, "", "sandbox.resources cannot be null"},
		{"sandbox.network.egress null", `{"sandbox":{"network":{"egress":null}}}`, "", "sandbox.network.egress cannot be null"},
		{"sandbox.resources.cpu null", `{"sandbox":{"resources":{"cpu":null}}}`, "", "sandbox.resources.cpu cannot be null"},
		{"null in another case", `{"Name":null}`, "", "name cannot be null"},
		{"name empty", `{"name":""}`, "", "name must not be empty"},
		{"model unknown", `{"model":"nope/x"}`, "", "model"},
		{"metadata over the limit after the merge", `{"metadata":{` + list(MaxMetadata-1, func(i int) string { return fmt.Sprintf(`"k%d":"v"`, i) }) + `}}`, "", "metadata can hold at most 16"},
		{"secret refused", `{"secrets":{"C":"sec_theirs"}}`, EInvalidSecretRef, "secrets.C"},
		{"skills too many", `{"skills":[` + list(MaxSkills+1, func(i int) string { return fmt.Sprintf(`{"name":"s%d","source":"inline","content":"x"}`, i) }) + `]}`, "", "skills can hold at most 20"},
		{"budget_usd negative", `{"budget_usd":-1}`, "", "budget_usd"},
		{"resources", `{"sandbox":{"resources":{"memory_mb":-5}}}`, "", "sandbox.resources.memory_mb"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := testRules()
			d := base(t, r)
			before := fmt.Sprintf("%+v", *d)
			code := c.code
			if code == "" {
				code = EInvalid
			}
			u, err := ApplyUpdate(context.Background(), d, input(t, c.body), r)
			if u != nil {
				t.Errorf("a deployment came back with the error")
			}
			checkErr(t, err, code, c.mentions)
			if after := fmt.Sprintf("%+v", *d); after != before {
				t.Errorf("the refused update changed the deployment:\n%s\n%s", before, after)
			}
		})
	}
}

// TestUpdateMergeRules: the contract's PATCH rules, one case per key: what
// replaces, what merges per key (or field), what null removes, what stays.
func TestUpdateMergeRules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, body string
		check      func(t *testing.T, old, d *Deployment)
	}{
		{"nothing sent: nothing changes", `{}`, func(t *testing.T, old, d *Deployment) {
			if fmt.Sprintf("%+v", *old) != fmt.Sprintf("%+v", *d) {
				t.Errorf("changed:\n%+v\n%+v", *old, *d)
			}
		}},
		{"immutables sent unchanged", `{"customer_id":"c","runtime":"hermes","sandbox":{"type":"local"}}`, func(t *testing.T, old, d *Deployment) {
			if d.CustomerID != "c" || d.Sandbox.Type != "local" || d.Sandbox.Network.Egress != EgressNone {
				t.Errorf("%+v", d)
			}
		}},
		{"name, model and system_prompt replace", `{"name":"N2","model":"demo/demo","system_prompt":"P2"}`, func(t *testing.T, old, d *Deployment) {
			if d.Name != "N2" || d.Model != "demo/demo" || d.SystemPrompt != "P2" || d.CustomerID != "c" {
				t.Errorf("%+v", d)
			}
		}},
		{"mcp_servers replace the list", `{"mcp_servers":[{"name":"billing","url":"https://billing.example.com"}]}`, func(t *testing.T, old, d *Deployment) {
			if len(d.MCPServers) != 1 || d.MCPServers[0].Name != "billing" {
				t.Errorf("%+v", d.MCPServers)
			}
		}},
		{"mcp_servers [] clears", `{"mcp_servers":[]}`, func(t *testing.T, old, d *Deployment) {
			if d.MCPServers == nil || len(d.MCPServers) != 0 {
				t.Errorf("%#v", d.MCPServers)
			}
		}},
		{"skills replace the list, a kept name keeps its id", `{"skills":[{"name":"tone","source":"inline","content":"t2"},{"name":"new","source":"inline","content":"n"}]}`, func(t *testing.T, old, d *Deployment) {
			if len(d.Skills) != 2 || d.Skills[0].Name != "tone" || d.Skills[0].Content != "t2" || d.Skills[1].Name != "new" {
				t.Fatalf("%+v", d.Skills)
			}
			if d.Skills[0].SkillID != old.Skills[1].SkillID || !d.Skills[0].CreatedAt.Equal(old.Skills[1].CreatedAt) {
				t.Errorf("tone: %+v, was %+v", d.Skills[0], old.Skills[1])
			}
			if d.Skills[1].SkillID == "" || d.Skills[1].SkillID == old.Skills[0].SkillID || d.Skills[1].SkillID == old.Skills[1].SkillID {
				t.Errorf("new skill's id %q", d.Skills[1].SkillID)
			}
		}},
		{"skills [] clears", `{"skills":[]}`, func(t *testing.T, old, d *Deployment) {
			if len(d.Skills) != 0 {
				t.Errorf("%+v", d.Skills)
			}
		}},
		{"secrets merge per key, null removes", `{"secrets":{"A":null,"C":"sec_c","B":"sec_b2"}}`, func(t *testing.T, old, d *Deployment) {
			if fmt.Sprint(d.Secrets) != "map[B:sec_b2 C:sec_c]" {
				t.Errorf("%v", d.Secrets)
			}
		}},
		{"secrets: removing an absent key is no error", `{"secrets":{"ZZZ":null}}`, func(t *testing.T, old, d *Deployment) {
			if len(d.Secrets) != 2 {
				t.Errorf("%v", d.Secrets)
			}
		}},
		{"features merge per key, null resets to the default", `{"features":{"memory":null,"steering":false,"dreaming":false}}`, func(t *testing.T, old, d *Deployment) {
			want := Features{Memory: true, Automations: true, Steering: false, FilesystemWebhooks: true}
			if d.Features != want {
				t.Errorf("%+v, want %+v", d.Features, want)
			}
		}},
		{"tools merge per tool and field, null removes", `{"tools":{"shell":{"enabled":false},"read_file":null,"todo":{"permission":"always_ask"}}}`, func(t *testing.T, old, d *Deployment) {
			sh := d.Tools["shell"]
			if sh.Enabled == nil || *sh.Enabled || sh.Permission != PermissionAlwaysAsk {
				t.Errorf("shell %+v: enabling must keep its permission", sh)
			}
			if _, ok := d.Tools["read_file"]; ok || d.Tools["todo"].Permission != PermissionAlwaysAsk || len(d.Tools) != 2 {
				t.Errorf("%+v", d.Tools)
			}
		}},
		{"tools: removing a tool this server lacks", `{"tools":{"web_search":null,"browser":{"enabled":false}}}`, func(t *testing.T, old, d *Deployment) {
			if b, ok := d.Tools["browser"]; !ok || b.Enabled == nil || *b.Enabled {
				t.Errorf("%+v", d.Tools)
			}
		}},
		{"metadata merge per key, null removes", `{"metadata":{"region":null,"tier":"gold"}}`, func(t *testing.T, old, d *Deployment) {
			if fmt.Sprint(d.Metadata) != "map[plan:pro tier:gold]" {
				t.Errorf("%v", d.Metadata)
			}
		}},
		{"metadata: the limit counts what is left", `{"metadata":{"region":null,"plan":null,` + list(MaxMetadata, func(i int) string { return fmt.Sprintf(`"k%d":"v"`, i) }) + `}}`, func(t *testing.T, old, d *Deployment) {
			if len(d.Metadata) != MaxMetadata {
				t.Errorf("%v", d.Metadata)
			}
		}},
		{"budget_usd null removes the cap", `{"budget_usd":null}`, func(t *testing.T, old, d *Deployment) {
			if d.BudgetUSD != nil {
				t.Errorf("budget %v", *d.BudgetUSD)
			}
		}},
		{"budget_usd replaces", `{"budget_usd":7.5}`, func(t *testing.T, old, d *Deployment) {
			if d.BudgetUSD == nil || *d.BudgetUSD != 7.5 || *old.BudgetUSD != 5 {
				t.Errorf("budget %v, old %v", d.BudgetUSD, old.BudgetUSD)
			}
		}},
		{"sandbox.network replaces the whole network", `{"sandbox":{"network":{"allowed_hosts":["b.example.com"]}}}`, func(t *testing.T, old, d *Deployment) {
			// egress not sent: the default (proxy), not the old none.
			if d.Sandbox.Network.Egress != EgressProxy || !slices.Equal(d.Sandbox.Network.AllowedHosts, []string{"b.example.com"}) {
				t.Errorf("%+v", d.Sandbox.Network)
			}
			if d.Sandbox.Resources != old.Sandbox.Resources || !d.Sandbox.Enabled {
				t.Errorf("resources or enabled changed: %+v", d.Sandbox)
			}
		}},
		{"sandbox.resources replace", `{"sandbox":{"resources":{"pids":100}}}`, func(t *testing.T, old, d *Deployment) {
			if d.Sandbox.Resources != (Resources{PIDs: 100}) || d.Sandbox.Network.Egress != EgressNone {
				t.Errorf("%+v", d.Sandbox)
			}
		}},
		{"sandbox.enabled changes alone", `{"sandbox":{"enabled":false}}`, func(t *testing.T, old, d *Deployment) {
			if d.Sandbox.Enabled || d.Sandbox.Resources != old.Sandbox.Resources || d.Sandbox.Network.Egress != EgressNone {
				t.Errorf("%+v", d.Sandbox)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := testRules()
			old := base(t, r)
			snapshot := fmt.Sprintf("%+v", *old)
			d, err := ApplyUpdate(context.Background(), old, input(t, c.body), r)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, old, d)
			if fmt.Sprintf("%+v", *old) != snapshot {
				t.Errorf("ApplyUpdate changed its input")
			}
			if d.ConfigVersion != old.ConfigVersion {
				t.Errorf("config_version is the service's to bump, not ApplyUpdate's")
			}
		})
	}
}

// The result of an update shares no map or slice with the deployment it
// came from (the service keeps both).
func TestUpdateDoesNotAlias(t *testing.T) {
	t.Parallel()
	r := testRules()
	old := base(t, r)
	d, err := ApplyUpdate(context.Background(), old, input(t, `{}`), r)
	if err != nil {
		t.Fatal(err)
	}
	d.Secrets["X"] = "sec_x"
	d.Metadata["x"] = "y"
	d.Tools["x__y"] = ToolSettings{}
	d.Sandbox.Network.AllowedHosts[0] = "changed"
	d.MCPServers[0].Name = "changed"
	d.Skills[0].Name = "changed"
	if old.Secrets["X"] != "" || old.Metadata["x"] != "" || len(old.Tools) != 2 || old.Sandbox.Network.AllowedHosts[0] != "a.example.com" ||
		old.MCPServers[0].Name != "crm" || old.Skills[0].Name != "voice" {
		t.Fatalf("the update aliases the old deployment: %+v", old)
	}
}

func TestValidateMessage(t *testing.T) {
	t.Parallel()
	png := "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("\x89PNG"))
	att := func(typ, url string) Attachment { return Attachment{Type: typ, URL: url} }
	many := func(n int) []Attachment {
		out := make([]Attachment, n)
		for i := range out {
			out[i] = att(AttachFile, fmt.Sprintf("https://x.example.com/%d", i))
		}
		return out
	}
	for _, c := range []struct {
		name     string
		content  string
		atts     []Attachment
		mentions string // "" = accepted
	}{
		{"one character", "x", nil, ""},
		{"at the limit", rep("é", MaxContent), nil, ""},
		{"empty", "", nil, "content is required"},
		{"over the limit", rep("x", MaxContent+1), nil, "content must be at most 100000"},
		{"ten attachments", "x", many(MaxAttachments), ""},
		{"eleven attachments", "x", many(MaxAttachments + 1), "attachments: at most 10"},
		{"every type", "x", []Attachment{att(AttachImage, png), att(AttachVideo, "https://x.example.com/v.mp4"), att(AttachAudio, "data:audio/mpeg;base64,AAAA"), att(AttachFile, "data:,hello%20there")}, ""},
		{"unknown type", "x", []Attachment{att(AttachFile, png), att("pdf", "https://x.example.com/a.pdf")}, "attachments[1].type must be image, video, audio or file"},
		{"http url", "x", []Attachment{att(AttachFile, "http://x.example.com/a")}, "attachments[0].url must be an https URL or a data URL"},
		{"https without a host", "x", []Attachment{att(AttachFile, "https:///a")}, "attachments[0].url is not a valid https URL"},
		{"bad base64", "x", []Attachment{att(AttachFile, "data:text/plain;base64,!!!")}, "attachments[0].url: the data is not valid base64"},
		{"data URL without a comma", "x", []Attachment{att(AttachFile, "data:text/plain")}, "attachments[0].url"},
		{"image that is not an image", "x", []Attachment{att(AttachImage, "data:text/plain;base64,aGk=")}, "attachments[0]: an image must be png, jpeg, gif or webp (this is text/plain)"},
		{"image svg", "x", []Attachment{att(AttachImage, "data:image/svg+xml,<svg/>")}, "attachments[0]: an image must be png"},
		{"too large", "x", []Attachment{att(AttachFile, "data:application/octet-stream;base64,"+base64.StdEncoding.EncodeToString(make([]byte, MaxAttachmentBytes+1)))}, "attachments[0]: 26214401 bytes"},
	} {
		err := ValidateMessage(c.content, c.atts)
		if c.mentions == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if ErrorCode(err) != EInvalid || !strings.Contains(ErrorMessage(err), c.mentions) {
			t.Errorf("%s: %v, want a validation_error mentioning %q", c.name, err, c.mentions)
		}
	}
}

func TestValidateThreadTitle(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "Holiday campaign", rep("é", MaxThreadTitle)} {
		if err := ValidateThreadTitle(ok); err != nil {
			t.Errorf("%d characters: %v", len([]rune(ok)), err)
		}
	}
	checkErr(t, ValidateThreadTitle(rep("t", MaxThreadTitle+1)), EInvalid, "title must be at most 200 characters (got 201)")
}

func TestDecodeDataURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		url, mt, data, err string
	}{
		{"data:image/PNG;base64,aGk=", "image/png", "hi", ""},
		{"data:image/png;base64,aGk", "image/png", "hi", ""}, // unpadded
		{"data:,a%20b", "text/plain", "a b", ""},
		{"data:text/csv;charset=utf-8,a,b", "text/csv", "a,b", ""},
		{"data:text/plain,%zz", "", "", "percent-encoding"},
		{"https://x", "", "", "not a data URL"},
		{"data:text/plain;base64", "", "", "comma"},
	} {
		mt, data, err := DecodeDataURL(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil || mt != c.mt || string(data) != c.data {
			t.Errorf("%s: %q %q %v", c.url, mt, data, err)
		}
	}
}

func TestCheckWebhookURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		url      string
		private  bool
		mentions string
	}{
		{"https://hooks.example.com/x", false, ""},
		{"http://hooks.example.com/x", true, ""},
		{"http://hooks.example.com/x", false, "url must use https"},
		{"https://u:p@hooks.example.com", false, "url must not contain credentials"},
		{"hooks.example.com", false, "url must be an absolute URL"},
		{"ws://hooks.example.com", true, "url must be an https URL"},
	} {
		err := CheckWebhookURL(t.Context(), c.url, c.private)
		if c.mentions == "" {
			if err != nil {
				t.Errorf("%s: %v", c.url, err)
			}
			continue
		}
		if ErrorCode(err) != EInvalid || !strings.Contains(ErrorMessage(err), c.mentions) {
			t.Errorf("%s: %v, want %q", c.url, err, c.mentions)
		}
	}
}

func TestHostMatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		patterns []string
		host     string
		want     bool
	}{
		{[]string{"api.example.com"}, "api.example.com", true},
		{[]string{"API.example.com."}, "api.EXAMPLE.com.", true},
		{[]string{"api.example.com:443"}, "api.example.com", true},
		{[]string{"api.example.com"}, "x.api.example.com", false},
		{[]string{"*.example.com"}, "a.b.example.com", true},
		{[]string{"*.example.com"}, "example.com", false},
		{[]string{"*.example.com"}, "badexample.com", false},
		{nil, "api.example.com", false},
		{[]string{"api.example.com"}, "", false},
	} {
		if got := HostMatch(c.patterns, c.host); got != c.want {
			t.Errorf("HostMatch(%q, %q) = %v", c.patterns, c.host, got)
		}
	}
}
