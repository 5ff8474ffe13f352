package builtin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/netguard"
	"github.com/hermhq/herm/internal/tools"
)

const (
	maxRedirects = 5
	// maxErrorExcerpt is how much of a failed response's body is shown.
	maxErrorExcerpt = 500
	fetchUserAgent  = "Mozilla/5.0 (compatible; herm-web_fetch/1.0)"
)

type webFetchArgs struct {
	URL      string `json:"url" jsonschema:"The http or https URL to fetch (GET)."`
	MaxBytes int64  `json:"max_bytes,omitempty" minimum:"1" jsonschema:"Read at most this many bytes of the response (the server's limit applies too)."`
}

// webFetch fetches URLs on the host, not in the sandbox: it applies the
// deployment's egress settings (none, allowed_hosts) and the server's
// network guard itself. (Sending it through the per-deployment egress
// proxy is a later change.)
type webFetch struct {
	client   *http.Client // shared transport; copied per call
	guard    *netguard.Guard
	maxBytes int64
}

// guard returns the Guard of opts, or one made with its
// AllowPrivateNetworks.
func (opts Options) guard() *netguard.Guard {
	if opts.Guard != nil {
		return opts.Guard
	}
	return netguard.New(netguard.Options{AllowPrivate: opts.AllowPrivateNetworks})
}

func newWebFetch(opts Options) Tool {
	opts.Guard = opts.guard()
	f := &webFetch{client: fetchClient(opts), guard: opts.Guard, maxBytes: opts.MaxFetchBytes}
	return newTool("web_fetch",
		"Fetch a web page or other text resource over http(s) and return it as text. HTML is reduced to readable text with its title and links. "+
			"Binary content is not returned.",
		false, f.call)
}

// fetchClient returns the client web_fetch uses: opts.HTTPClient (or a
// client with a 30 s timeout) whose transport connects directly, never
// through a proxy, and through the Guard's dialer, which checks every
// address it dials.
func fetchClient(opts Options) *http.Client {
	c := &http.Client{Timeout: DefaultFetchTimeout}
	if opts.HTTPClient != nil {
		cp := *opts.HTTPClient
		c = &cp
	}
	var tr *http.Transport
	switch t := c.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		// Another RoundTripper decides itself where connections go; only
		// URLs naming refused addresses literally are refused then.
		return c
	}
	// Every connection goes through the Guard's dialer, which checks the
	// address actually dialled (a name that re-resolves elsewhere gains
	// nothing): no proxy, no custom dialers.
	tr.Proxy = nil
	tr.DialContext = opts.guard().DialContext
	tr.DialTLSContext = nil
	//lint:ignore SA1019 cleared so that an old-style dialer cannot bypass the check
	tr.DialTLS = nil
	//lint:ignore SA1019 cleared so that an old-style dialer cannot bypass the check
	tr.Dial = nil
	c.Transport = tr
	return c
}

// withNote is err's message, followed, for a destination the network
// guard refused, by the rule that refused it (for the model).
func withNote(err error) string {
	var ge *netguard.Error
	switch {
	case !errors.As(err, &ge):
		return err.Error()
	case ge.Always():
		return err.Error() + ", and this server never connects to cloud metadata or link-local addresses"
	}
	return err.Error() + ", and this server does not let web_fetch reach private networks or its own host"
}

// refusedError is a URL web_fetch refuses to fetch; its message is for the
// model.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func (f *webFetch) call(ctx context.Context, c tools.Call, a webFetchArgs) (tools.Result, error) {
	if a.URL == "" {
		return errResult("url is required"), nil
	}
	if a.MaxBytes < 0 {
		return errResult("max_bytes must be positive"), nil
	}
	limit := f.maxBytes
	if a.MaxBytes > 0 && a.MaxBytes < limit {
		limit = a.MaxBytes
	}
	u, err := url.Parse(strings.TrimSpace(a.URL))
	if err != nil {
		return errResult("url %q is not a valid URL", a.URL), nil
	}
	if err := f.check(c.Deployment, u); err != nil {
		return errResult("%s", withNote(err)), nil
	}
	client := *f.client
	client.Jar = nil
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return &refusedError{fmt.Sprintf("stopped after %d redirects (last to %s)", maxRedirects, req.URL.Redacted())}
		}
		if err := f.check(c.Deployment, req.URL); err != nil {
			return &refusedError{"redirected to " + req.URL.Redacted() + ", which is refused: " + withNote(err)}
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return errResult("url %q: %v", a.URL, err), nil
	}
	req.Header.Set("User-Agent", fetchUserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.5")
	resp, err := client.Do(req)
	if err != nil {
		return f.doErr(ctx, u, err)
	}
	defer resp.Body.Close()
	final := resp.Request.URL
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return f.doErr(ctx, final, err)
	}
	truncated := int64(len(body)) > limit
	if truncated {
		body = body[:limit]
	}

	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "" || mt == "application/octet-stream" {
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(body))
	}
	isHTML := mt == "text/html" || mt == "application/xhtml+xml"
	if isBinary(body) || !isHTML && !textual(mt) {
		if resp.StatusCode/100 != 2 {
			return errResult("HTTP %s from %s (%s content)", resp.Status, final.Redacted(), mt), nil
		}
		return errResult("%s returned %s content (%s bytes read), not text; web_fetch returns text only", final.Redacted(), mt, sizeNote(len(body), truncated)), nil
	}
	text := decodeCharset(body, params["charset"])
	var title string
	if isHTML {
		title, text = htmlToText(text, final)
	}
	text = strings.ToValidUTF8(text, "\uFFFD")

	if resp.StatusCode/100 != 2 {
		excerpt := strings.TrimSpace(text)
		if len(excerpt) > maxErrorExcerpt {
			cut := maxErrorExcerpt
			for cut > 0 && !utf8.RuneStart(excerpt[cut]) {
				cut--
			}
			excerpt = excerpt[:cut] + "…"
		}
		msg := fmt.Sprintf("HTTP %s from %s", resp.Status, final.Redacted())
		if excerpt != "" {
			msg += "\n" + excerpt
		}
		return errResult("%s", msg), nil
	}

	var b strings.Builder
	fmt.Fprintf(&b, "URL: %s\n", final.Redacted())
	if title != "" {
		fmt.Fprintf(&b, "Title: %s\n", title)
	}
	fmt.Fprintf(&b, "Content-Type: %s\n\n", mt)
	b.WriteString(strings.TrimSpace(text))
	if truncated {
		fmt.Fprintf(&b, "\n\n[truncated: only the first %d bytes of the response were read]", limit)
	}
	return tools.Result{Content: b.String()}, nil
}

func sizeNote(n int, truncated bool) string {
	if truncated {
		return fmt.Sprintf("more than %d", n)
	}
	return fmt.Sprint(n)
}

// doErr turns a failed request into a result.
func (f *webFetch) doErr(ctx context.Context, u *url.URL, err error) (tools.Result, error) {
	if ctx.Err() != nil {
		return tools.Result{}, ctx.Err()
	}
	var re *refusedError
	if errors.As(err, &re) {
		return errResult("%s", re.msg), nil
	}
	var ge *netguard.Error
	if errors.As(err, &ge) {
		return errResult("%s refused: %s", u.Redacted(), withNote(ge)), nil
	}
	if netTimeout(err) {
		return errResult("fetching %s timed out", u.Redacted()), nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errResult("fetching %s failed: %v", u.Redacted(), err), nil
}

// check applies the URL rules and the deployment's egress settings to one
// URL (the first and every redirect).
func (f *webFetch) check(d *herm.Deployment, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %s: only http and https URLs can be fetched", u.Redacted())
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return fmt.Errorf("url %s has no host", u.Redacted())
	}
	if d != nil {
		n := d.Sandbox.Network
		switch n.Egress {
		case herm.EgressNone:
			return errors.New("the deployment's egress policy (sandbox.network.egress \"none\") allows no outbound access")
		case herm.EgressOpen:
		default: // proxy: only the allowed hosts
			if len(n.AllowedHosts) == 0 {
				return fmt.Errorf("host %s is not allowed: the deployment's egress policy (proxy) has no allowed hosts (sandbox.network.allowed_hosts)", host)
			}
			if !hostAllowed(n.AllowedHosts, host) {
				return fmt.Errorf("host %s is not in the deployment's allowed hosts (sandbox.network.allowed_hosts: %s)", host, listHosts(n.AllowedHosts))
			}
		}
	}
	// Literal addresses and refused names now; names that resolve to a
	// refused address when dialled.
	if err := f.guard.CheckHostNoDNS(u.Hostname()); err != nil {
		return fmt.Errorf("url %s refused: %w", u.Redacted(), err)
	}
	return nil
}

// hostAllowed reports whether host is one of hosts: an exact name, or
// "*.example.com" for any subdomain of example.com.
func hostAllowed(hosts []string, host string) bool {
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		if suffix, ok := strings.CutPrefix(h, "*"); ok && strings.HasPrefix(suffix, ".") {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
			continue
		}
		if strings.Trim(h, "[]") == host {
			return true
		}
	}
	return false
}

func listHosts(hosts []string) string {
	const show = 10
	if len(hosts) <= show {
		return strings.Join(hosts, ", ")
	}
	return strings.Join(hosts[:show], ", ") + fmt.Sprintf(" and %d more", len(hosts)-show)
}

// textual reports media types shown as text.
func textual(mt string) bool {
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"),
		strings.HasSuffix(mt, "/json"), strings.HasSuffix(mt, "/xml"),
		strings.Contains(mt, "javascript"), strings.Contains(mt, "ecmascript"),
		strings.Contains(mt, "yaml"), strings.Contains(mt, "toml"),
		mt == "application/x-ndjson", mt == "application/sql", mt == "application/graphql":
		return true
	}
	return false
}

// decodeCharset converts the Latin-1 family to UTF-8; other charsets are
// taken as UTF-8.
func decodeCharset(b []byte, charset string) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1", "windows-1252", "cp1252":
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	}
	return string(b)
}

// Downloader fetches files (attachments, url skills) under the same rules
// as web_fetch: the deployment's egress settings, the network guard,
// checked redirects, a size limit.
type Downloader struct{ f *webFetch }

// NewDownloader returns a Downloader with opts (as New's).
func NewDownloader(opts Options) *Downloader {
	if opts.MaxFetchBytes <= 0 {
		opts.MaxFetchBytes = DefaultMaxFetchBytes
	}
	opts.Guard = opts.guard()
	return &Downloader{f: &webFetch{client: fetchClient(opts), guard: opts.Guard, maxBytes: opts.MaxFetchBytes}}
}

// Download GETs rawURL for deployment d, reading at most limit bytes (more
// is an error), and returns the body and its media type. Its errors say
// why, for the user: a refused destination is "refused: " and the network
// guard's reason.
func (dl *Downloader) Download(ctx context.Context, d *herm.Deployment, rawURL string, limit int64) ([]byte, string, error) {
	f := dl.f
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, "", fmt.Errorf("not a valid URL")
	}
	if err := f.check(d, u); err != nil {
		return nil, "", err
	}
	client := *f.client
	client.Jar = nil
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if u.Scheme == "https" && req.URL.Scheme != "https" {
			// What was asked for over TLS is not taken in the clear.
			return fmt.Errorf("refused a redirect from https to %s", req.URL.Redacted())
		}
		return f.check(d, req.URL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", fetchUserAgent)
	resp, err := client.Do(req)
	if err != nil {
		var ge *netguard.Error
		if errors.As(err, &ge) {
			return nil, "", fmt.Errorf("refused: %w", ge)
		}
		return nil, "", fmt.Errorf("fetch failed: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, "", fmt.Errorf("HTTP %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("fetch failed: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, "", fmt.Errorf("larger than the limit of %d bytes", limit)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "" || mt == "application/octet-stream" {
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(body))
	}
	return body, mt, nil
}
