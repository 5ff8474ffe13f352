package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store/sqlite"
)

func vault(t *testing.T, master []byte) (*Vault, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "herm.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err := New(st, [][]byte{master}, herm.NewIDGen(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v, st
}

func TestMasterKey(t *testing.T) {
	dir := t.TempDir()
	keys, err := MasterKeys("", dir)
	if err != nil || len(keys) != 1 || len(keys[0]) != 32 {
		t.Fatalf("%v %d", err, len(keys))
	}
	k1 := keys[0]
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key %v %v", fi, err)
	}
	keys, err = MasterKeys("", dir)
	if err != nil || string(k1) != string(keys[0]) {
		t.Fatal("the generated key is not reused")
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString(k1[:16]), base64.StdEncoding.EncodeToString(k1) + ",x"} {
		if _, err := MasterKeys(bad, dir); err == nil {
			t.Fatalf("a bad HERM_MASTER_KEY %q was accepted", bad)
		}
	}
	k2 := bytes.Repeat([]byte{2}, 32)
	keys, err = MasterKeys(" "+base64.StdEncoding.EncodeToString(k2)+", "+base64.StdEncoding.EncodeToString(k1), dir)
	if err != nil || len(keys) != 2 || string(keys[0]) != string(k2) || string(keys[1]) != string(k1) {
		t.Fatalf("two keys: %v %d", err, len(keys))
	}
}

func TestSealRevealRotate(t *testing.T) {
	master := make([]byte, 32)
	master[0] = 7
	v, st := vault(t, master)
	ctx := context.Background()
	s, err := v.Create(ctx, Input{Name: "meta-token", Value: "s3cr3t-canary", CustomerID: "cus_1", AllowedHosts: []string{"API.meta.com", "*.graph.meta.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(s.Ciphertext), "s3cr3t") || s.AllowedHosts[0] != "api.meta.com" {
		t.Fatalf("stored %+v", s)
	}
	d := &herm.Deployment{CustomerID: "cus_1", Secrets: map[string]string{"META_TOKEN": s.ID}}
	val, _, err := v.Reveal(ctx, d, "META_TOKEN")
	if err != nil || val != "s3cr3t-canary" {
		t.Fatalf("reveal %q %v", val, err)
	}
	if _, err := v.Rotate(ctx, s.ID, "n3w"); err != nil {
		t.Fatal(err)
	}
	if val, _, _ := v.Reveal(ctx, d, "META_TOKEN"); val != "n3w" {
		t.Fatalf("after rotation %q", val)
	}
	// Another customer's deployment cannot reference or reveal it.
	if err := v.CheckRef(ctx, s.ID, "cus_2"); herm.ErrorCode(err) != herm.EInvalidSecretRef {
		t.Fatalf("other customer's ref: %v", err)
	}
	if err := v.CheckRef(ctx, s.ID, "cus_1"); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckRef(ctx, "sec_nope", "cus_1"); herm.ErrorCode(err) != herm.EInvalidSecretRef {
		t.Fatalf("missing ref: %v", err)
	}
	// A secret of every customer may be referenced by any deployment, but
	// not through a customer's key; that customer's own secret may.
	global, err := v.Create(ctx, Input{Name: "shared", Value: "shared-value", AllowedHosts: []string{"x.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.CheckRef(ctx, global.ID, "cus_1"); err != nil {
		t.Fatal(err)
	}
	keyCtx := herm.WithKeyCustomer(ctx, "cus_1")
	if err := v.CheckRef(keyCtx, global.ID, "cus_1"); herm.ErrorCode(err) != herm.EInvalidSecretRef {
		t.Fatalf("a customer's key referenced a secret of every customer: %v", err)
	}
	if err := v.CheckRef(keyCtx, s.ID, "cus_1"); err != nil {
		t.Fatal(err)
	}
	if hosts, err := v.AllowedHosts(ctx, s.ID); err != nil || strings.Join(hosts, ",") != "api.meta.com,*.graph.meta.com" {
		t.Fatalf("allowed hosts %v %v", hosts, err)
	}
	other := &herm.Deployment{CustomerID: "cus_2", Secrets: map[string]string{"META_TOKEN": s.ID}}
	if _, _, err := v.Reveal(ctx, other, "META_TOKEN"); err == nil {
		t.Fatal("another customer's deployment revealed the value")
	}
	// A ciphertext moved to another secret does not open (sealed with its ID).
	s2, err := v.Create(ctx, Input{Name: "other", Value: "x"})
	if err != nil {
		t.Fatal(err)
	}
	stolen, _ := st.GetSecret(ctx, s.ID)
	if err := st.RotateSecret(ctx, s2.ID, stolen.Ciphertext, stolen.CreatedAt); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Reveal(ctx, &herm.Deployment{Secrets: map[string]string{"X": s2.ID}}, "X"); err == nil {
		t.Fatal("a ciphertext opened under another secret's ID")
	}
	// Another master key cannot open it.
	wrong := make([]byte, 32)
	v2, err := New(st, [][]byte{wrong}, herm.NewIDGen(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v2.Reveal(ctx, d, "META_TOKEN"); err == nil {
		t.Fatal("opened with another master key")
	}
	// Validation.
	for _, in := range []Input{{Name: "", Value: "x"}, {Name: "n", Value: ""}, {Name: "n", Value: "x", AllowedHosts: []string{"http://x"}}} {
		if _, err := v.Create(ctx, in); herm.ErrorCode(err) != herm.EInvalid {
			t.Errorf("%+v: %v", in, err)
		}
	}
}

// A server setting may name a secret of no customer (a web search
// backend's key): RevealServer gives its value, rotated ones included, and
// its allowed hosts; a customer's secret or a missing one is refused.
func TestRevealServer(t *testing.T) {
	v, _ := vault(t, bytes.Repeat([]byte{3}, 32))
	ctx := context.Background()
	s, err := v.Create(ctx, Input{Name: "brave", Value: "brave-key-1", AllowedHosts: []string{"api.search.brave.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if val, hosts, err := v.RevealServer(ctx, s.ID); err != nil || val != "brave-key-1" || strings.Join(hosts, ",") != "api.search.brave.com" {
		t.Fatalf("%q %v %v", val, hosts, err)
	}
	if _, err := v.Rotate(ctx, s.ID, "brave-key-2"); err != nil {
		t.Fatal(err)
	}
	if val, _, err := v.RevealServer(ctx, s.ID); err != nil || val != "brave-key-2" {
		t.Fatalf("after rotation: %q %v", val, err)
	}
	mine, err := v.Create(ctx, Input{Name: "mine", Value: "customer-key", CustomerID: "cus_1", AllowedHosts: []string{"api.search.brave.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if val, _, err := v.RevealServer(ctx, mine.ID); err == nil || !strings.Contains(err.Error(), "belongs to a customer") || val != "" {
		t.Errorf("a customer's secret: %q %v", val, err)
	}
	if _, _, err := v.RevealServer(ctx, "sec_nope"); err == nil || err.Error() != "secret sec_nope does not exist" {
		t.Errorf("missing: %v", err)
	}
}

// A master key rotation: with the new key first and the old one after it,
// every secret reads at once and Reseal moves them all to the new key,
// after which the old key is not needed. (That a value rotated during the
// reseal stays rotated is the store's ResealSecret, in its behaviour suite.)
func TestMasterKeyRotation(t *testing.T) {
	ctx := context.Background()
	k1, k2, k3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	old, st := vault(t, k1)
	d := &herm.Deployment{CustomerID: "cus_1", Secrets: map[string]string{}}
	for i := range 150 { // more than one page
		s, err := old.Create(ctx, Input{Name: "s", Value: strings.Repeat("v", i+1), CustomerID: "cus_1"})
		if err != nil {
			t.Fatal(err)
		}
		d.Secrets[fmt.Sprintf("S%d", i)] = s.ID
	}
	stranger, err := New(st, [][]byte{k3}, herm.NewIDGen(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lost, err := stranger.Create(ctx, Input{Name: "lost", Value: "x"})
	if err != nil {
		t.Fatal(err)
	}

	rotating, err := New(st, [][]byte{k2, k1}, herm.NewIDGen(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(v *Vault) {
		t.Helper()
		for i := range 150 {
			val, _, err := v.Reveal(ctx, d, fmt.Sprintf("S%d", i))
			if err != nil || val != strings.Repeat("v", i+1) {
				t.Fatalf("S%d: %q %v", i, val, err)
			}
		}
	}
	check(rotating)
	n, unreadable, err := rotating.Reseal(ctx)
	if err != nil || n != 150 || len(unreadable) != 1 || unreadable[0] != lost.ID {
		t.Fatalf("reseal: %d %v %v", n, unreadable, err)
	}
	if n, _, _ := rotating.Reseal(ctx); n != 0 {
		t.Fatalf("a second reseal did %d", n)
	}
	current, err := New(st, [][]byte{k2}, herm.NewIDGen(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(current)
	if _, _, err := old.Reveal(ctx, d, "S0"); err == nil {
		t.Fatal("the old key still opens a resealed secret")
	}
}
