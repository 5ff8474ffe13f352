// Package secrets is the vault: secret values encrypted at rest with
// AES-256-GCM under a key derived (HKDF-SHA256) from the master key, each
// sealed with its secret's ID as additional data so that a ciphertext
// cannot be moved to another secret. Values are revealed only to the
// host-side code that needs them (MCP headers, the egress proxy), never to
// the API, logs, events or the sandbox.
package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Limits.
const (
	MaxValueBytes   = 64 << 10
	MaxAllowedHosts = 50
)

var reSecretName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// Vault stores and reveals secrets.
type Vault struct {
	store store.Store
	aeads []cipher.AEAD // the first seals; each opens (older master keys after a rotation)
	ids   *herm.IDGen
	now   func() time.Time
	seen  *Seen // values revealed, for the log's redaction (may be nil)
}

// MasterKeys returns the master keys: HERM_MASTER_KEY (base64 of 32
// bytes; during a rotation, the new key then the old ones, separated by
// commas) when set, else the one in dataDir/master.key, generated (mode
// 0600) on first use. The first key seals; all of them open.
func MasterKeys(env, dataDir string) ([][]byte, error) {
	if strings.TrimSpace(env) != "" {
		var keys [][]byte
		for i, part := range strings.Split(env, ",") {
			k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(part))
			if err != nil || len(k) != 32 {
				return nil, fmt.Errorf("HERM_MASTER_KEY: key %d must be the base64 encoding of 32 bytes (several keys are separated by commas, the current one first)", i+1)
			}
			keys = append(keys, k)
		}
		return keys, nil
	}
	path := filepath.Join(dataDir, "master.key")
	read := func() ([][]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s does not hold a base64 32-byte key", path)
		}
		return [][]byte{k}, nil
	}
	if keys, err := read(); !errors.Is(err, os.ErrNotExist) {
		return keys, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	// Written whole under another name, then linked into place: servers of
	// a cluster starting at once on a shared data dir all end up with the
	// one key that was linked first, and none reads a half-written file.
	f, err := os.CreateTemp(dataDir, ".master.key-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(f.Name(), path); errors.Is(err, os.ErrExist) {
		return read()
	} else if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return [][]byte{k}, nil
}

// New returns a vault sealing with a key derived from the first master
// key and opening with any of them. Values it reveals are added to seen
// (nil: none), whose LogHandler keeps them out of the log.
func New(s store.Store, masters [][]byte, ids *herm.IDGen, now func() time.Time, seen *Seen) (*Vault, error) {
	if len(masters) == 0 {
		return nil, errors.New("no master key")
	}
	v := &Vault{store: s, ids: ids, now: now, seen: seen}
	for _, master := range masters {
		if len(master) != 32 {
			return nil, errors.New("the master key must be 32 bytes")
		}
		key, err := hkdf.Key(sha256.New, master, nil, "herm secrets v1", 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		v.aeads = append(v.aeads, aead)
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

func (v *Vault) seal(id, value string) []byte {
	aead := v.aeads[0]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return aead.Seal(nonce, nonce, []byte(value), []byte(id))
}

// Seal encrypts a value the server keeps for itself (a webhook's signing
// secret), bound to id.
func (v *Vault) Seal(id, value string) []byte { return v.seal(id, value) }

// Open decrypts what Seal returned for id.
func (v *Vault) Open(id string, ciphertext []byte) (string, error) {
	val, _, err := v.open(&herm.Secret{ID: id, Ciphertext: ciphertext})
	return val, err
}

// open decrypts a secret's value, and says which master key sealed it.
func (v *Vault) open(s *herm.Secret) (string, int, error) {
	for i, aead := range v.aeads {
		n := aead.NonceSize()
		if len(s.Ciphertext) < n {
			return "", 0, fmt.Errorf("secret %s: corrupt ciphertext", s.ID)
		}
		if b, err := aead.Open(nil, s.Ciphertext[:n], s.Ciphertext[n:], []byte(s.ID)); err == nil {
			return string(b), i, nil
		}
	}
	return "", 0, fmt.Errorf("secret %s cannot be decrypted (sealed under another master key?)", s.ID)
}

// Reseal re-encrypts every secret (and webhook signing secret) sealed
// under an older master key with
// the current one (after a rotation of HERM_MASTER_KEY), while the server
// runs: each is opened with the key that sealed it, so nothing is ever
// unreadable. It returns how many were resealed and the IDs of those no
// key opens.
func (v *Vault) Reseal(ctx context.Context) (int, []string, error) {
	if len(v.aeads) == 1 {
		return 0, nil, nil
	}
	n := 0
	var unreadable []string
	page := herm.Page{Limit: 100}
	for {
		list, err := v.store.ListSecrets(ctx, page)
		if err != nil {
			return n, unreadable, err
		}
		for _, s := range list {
			val, key, err := v.open(s)
			if err != nil {
				unreadable = append(unreadable, s.ID)
				continue
			}
			if key == 0 {
				continue
			}
			// Only if nobody rotated it meanwhile.
			if err := v.store.ResealSecret(ctx, s.ID, s.Ciphertext, v.seal(s.ID, val)); err != nil {
				return n, unreadable, err
			}
			n++
		}
		if len(list) < page.Limit {
			break
		}
		page.Cursor = list[len(list)-1].ID
	}
	// Webhooks' signing secrets, sealed the same way.
	page = herm.Page{Limit: 100}
	for {
		list, err := v.store.ListWebhooks(ctx, page)
		if err != nil {
			return n, unreadable, err
		}
		for _, w := range list {
			val, key, err := v.open(&herm.Secret{ID: w.ID, Ciphertext: w.Secret})
			if err != nil {
				unreadable = append(unreadable, w.ID)
				continue
			}
			if key == 0 {
				continue
			}
			if err := v.store.ResealWebhook(ctx, w.ID, w.Secret, v.seal(w.ID, val)); err != nil {
				return n, unreadable, err
			}
			n++
		}
		if len(list) < page.Limit {
			return n, unreadable, nil
		}
		page.Cursor = list[len(list)-1].ID
	}
}

// Input is a secret's definition.
type Input struct {
	Name         string
	Value        string
	CustomerID   string
	AllowedHosts []string
}

func checkValue(value string) error {
	if value == "" {
		return herm.Errorf(herm.EInvalid, "value is required")
	}
	if len(value) > MaxValueBytes {
		return herm.Errorf(herm.EInvalid, "value is longer than %d bytes", MaxValueBytes)
	}
	return nil
}

var reHost = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$`)

// Create stores a new secret.
func (v *Vault) Create(ctx context.Context, in Input) (*herm.Secret, error) {
	if !reSecretName.MatchString(in.Name) {
		return nil, herm.Errorf(herm.EInvalid, "name must be 1–100 letters, digits, dots, dashes or underscores")
	}
	if err := checkValue(in.Value); err != nil {
		return nil, err
	}
	if len(in.CustomerID) > herm.MaxCustomerID {
		return nil, herm.Errorf(herm.EInvalid, "customer_id is longer than %d characters", herm.MaxCustomerID)
	}
	if len(in.AllowedHosts) > MaxAllowedHosts {
		return nil, herm.Errorf(herm.EInvalid, "allowed_hosts: at most %d", MaxAllowedHosts)
	}
	hosts := make([]string, 0, len(in.AllowedHosts))
	for i, h := range in.AllowedHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if !reHost.MatchString(h) {
			return nil, herm.Errorf(herm.EInvalid, "allowed_hosts[%d]: %q is not a host name (a leading *. allows subdomains)", i, in.AllowedHosts[i])
		}
		hosts = append(hosts, h)
	}
	s := &herm.Secret{ID: v.ids.New(herm.PrefixSecret), Name: in.Name, CustomerID: in.CustomerID, AllowedHosts: hosts, CreatedAt: v.now().UTC()}
	s.Ciphertext = v.seal(s.ID, in.Value)
	if err := v.store.CreateSecret(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Rotate replaces a secret's value; deployments that reference it use the
// new value from their next use, with no restart.
func (v *Vault) Rotate(ctx context.Context, id, value string) (*herm.Secret, error) {
	if err := checkValue(value); err != nil {
		return nil, err
	}
	if err := v.store.RotateSecret(ctx, id, v.seal(id, value), v.now().UTC()); err != nil {
		return nil, err
	}
	return v.store.GetSecret(ctx, id)
}

// CheckRef reports whether a deployment of customerID may reference the
// secret: it exists and is the customer's, or any customer's. A request
// made with a customer's API key (herm.KeyCustomer) may reference only
// that customer's own secrets, not those of every customer: those belong
// to the product, whose backend key sets them.
func (v *Vault) CheckRef(ctx context.Context, id, customerID string) error {
	s, err := v.store.GetSecret(ctx, id)
	if herm.IsCode(err, herm.ENotFound) {
		return herm.Errorf(herm.EInvalidSecretRef, "secret %s does not exist", id)
	}
	if err != nil {
		return err
	}
	keyCustomer, limited := herm.KeyCustomer(ctx)
	if (s.CustomerID != "" && s.CustomerID != customerID) || (limited && s.CustomerID != keyCustomer) {
		// Said like a missing one: another customer's secret is not to be
		// confirmed either.
		return herm.Errorf(herm.EInvalidSecretRef, "secret %s does not exist", id)
	}
	return nil
}

// AllowedHosts returns the hosts a secret may be sent to.
func (v *Vault) AllowedHosts(ctx context.Context, id string) ([]string, error) {
	s, err := v.store.GetSecret(ctx, id)
	if herm.IsCode(err, herm.ENotFound) {
		return nil, herm.Errorf(herm.EInvalidSecretRef, "secret %s does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	return s.AllowedHosts, nil
}

// Redactor returns what replaces the deployment's secret values with
// [REDACTED:NAME]; a secret that cannot be revealed is left out.
func (v *Vault) Redactor(ctx context.Context, d *herm.Deployment) *Redactor {
	values := map[string]string{}
	for env := range d.Secrets {
		if val, _, err := v.Reveal(ctx, d, env); err == nil {
			values[env] = val
		}
	}
	return NewRedactor(values)
}

// RevealHosts is Reveal for code that sends the value somewhere: the
// value and the hosts it may go to (the secret's allowed_hosts).
func (v *Vault) RevealHosts(ctx context.Context, d *herm.Deployment, envName string) (string, []string, error) {
	val, s, err := v.Reveal(ctx, d, envName)
	if err != nil {
		return "", nil, err
	}
	return val, s.AllowedHosts, nil
}

// RevealServer returns the value of a secret that one of the server's own
// settings names (a web search backend's key) and the hosts it may be sent
// to (its allowed_hosts). Only a secret of no customer qualifies: a
// customer's secret is for that customer's deployments, not the server's.
func (v *Vault) RevealServer(ctx context.Context, id string) (string, []string, error) {
	s, err := v.store.GetSecret(ctx, id)
	if herm.IsCode(err, herm.ENotFound) {
		return "", nil, fmt.Errorf("secret %s does not exist", id)
	}
	if err != nil {
		return "", nil, fmt.Errorf("secret %s: %s", id, herm.ErrorMessage(err))
	}
	if s.CustomerID != "" {
		return "", nil, fmt.Errorf("secret %s belongs to a customer; a server setting may name only a secret without customer_id", id)
	}
	val, _, err := v.open(s)
	if err != nil {
		return "", nil, err
	}
	v.seen.add(val, s.Name)
	return val, s.AllowedHosts, nil
}

// Reveal returns the value behind a deployment's secret reference (for the
// host-side code that uses it), checking the customer again.
func (v *Vault) Reveal(ctx context.Context, d *herm.Deployment, envName string) (string, *herm.Secret, error) {
	id, ok := d.Secrets[envName]
	if !ok {
		return "", nil, fmt.Errorf("the deployment has no secret %s", envName)
	}
	s, err := v.store.GetSecret(ctx, id)
	if err != nil {
		return "", nil, fmt.Errorf("secret %s (%s): %s", envName, id, herm.ErrorMessage(err))
	}
	if s.CustomerID != "" && s.CustomerID != d.CustomerID {
		return "", nil, fmt.Errorf("secret %s (%s) is not this customer's", envName, id)
	}
	val, _, err := v.open(s)
	if err == nil {
		v.seen.add(val, s.Name)
	}
	return val, s, err
}
