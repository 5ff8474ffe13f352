package secrets

import (
	"context"
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
	v, err := New(st, master, herm.NewIDGen(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v, st
}

func TestMasterKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := MasterKey("", dir)
	if err != nil || len(k1) != 32 {
		t.Fatalf("%v %d", err, len(k1))
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key %v %v", fi, err)
	}
	k2, err := MasterKey("", dir)
	if err != nil || string(k1) != string(k2) {
		t.Fatal("the generated key is not reused")
	}
	if _, err := MasterKey("not base64!", dir); err == nil {
		t.Fatal("a bad HERM_MASTER_KEY was accepted")
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
	if err := v.CheckRef(s.ID, "cus_2"); herm.ErrorCode(err) != herm.EInvalidSecretRef {
		t.Fatalf("other customer's ref: %v", err)
	}
	if err := v.CheckRef(s.ID, "cus_1"); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckRef("sec_nope", "cus_1"); herm.ErrorCode(err) != herm.EInvalidSecretRef {
		t.Fatalf("missing ref: %v", err)
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
	v2, err := New(st, wrong, herm.NewIDGen(nil), nil)
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
