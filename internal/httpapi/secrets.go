package httpapi

import (
	"net/http"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/secrets"
)

// CreateSecretRequest is the body of a secret's creation.
type CreateSecretRequest struct {
	Name         *string  `json:"name" doc:"1–100 letters, digits, dots, dashes, underscores."`
	Value        *string  `json:"value" doc:"The secret itself (≤ 64 KiB). Stored encrypted; no endpoint ever returns it."`
	CustomerID   *string  `json:"customer_id" doc:"The customer whose deployments may use it; omitted: any customer's."`
	AllowedHosts []string `json:"allowed_hosts" doc:"Hosts the value may be sent to (a leading *. allows subdomains)."`
}

// RotateSecretRequest is the body of a secret's rotation.
type RotateSecretRequest struct {
	Value *string `json:"value"`
}

// Secret is a vault entry, without its value.
type Secret struct {
	SecretID     string     `json:"secret_id"`
	Name         string     `json:"name"`
	CustomerID   *string    `json:"customer_id"`
	AllowedHosts []string   `json:"allowed_hosts"`
	CreatedAt    time.Time  `json:"created_at"`
	RotatedAt    *time.Time `json:"rotated_at"`
}

func toSecret(s *herm.Secret) Secret {
	hosts := s.AllowedHosts
	if hosts == nil {
		hosts = []string{}
	}
	return Secret{SecretID: s.ID, Name: s.Name, CustomerID: nullable(s.CustomerID), AllowedHosts: hosts, CreatedAt: s.CreatedAt, RotatedAt: s.RotatedAt}
}

func (s *Server) vaultOrErr() (*secrets.Vault, error) {
	if s.vault == nil {
		return nil, herm.Errorf(herm.EUnavailable, "this server has no secrets vault")
	}
	return s.vault, nil
}

func (s *Server) createSecret(w http.ResponseWriter, r *http.Request) error {
	v, err := s.vaultOrErr()
	if err != nil {
		return err
	}
	var in CreateSecretRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Name == nil || in.Value == nil {
		return herm.Errorf(herm.EInvalid, "name and value are required")
	}
	cust := ""
	if in.CustomerID != nil {
		cust = *in.CustomerID
	}
	sec, err := v.Create(r.Context(), secrets.Input{Name: *in.Name, Value: *in.Value, CustomerID: cust, AllowedHosts: in.AllowedHosts})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toSecret(sec))
	return nil
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	list, err := s.store.ListSecrets(r.Context(), herm.Page{Limit: p.Limit + 1, Cursor: p.Cursor})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(list, p.Limit, toSecret, func(s *herm.Secret) string { return s.ID }))
	return nil
}

func (s *Server) getSecret(w http.ResponseWriter, r *http.Request) error {
	sec, err := s.store.GetSecret(r.Context(), r.PathValue("secret_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSecret(sec))
	return nil
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	v, err := s.vaultOrErr()
	if err != nil {
		return err
	}
	var in RotateSecretRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Value == nil {
		return herm.Errorf(herm.EInvalid, "value is required")
	}
	sec, err := v.Rotate(r.Context(), r.PathValue("secret_id"), *in.Value)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSecret(sec))
	return nil
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.DeleteSecret(r.Context(), r.PathValue("secret_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
