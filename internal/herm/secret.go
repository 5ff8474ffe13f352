package herm

import "time"

// PrefixSecret starts secret IDs.
const PrefixSecret = "sec_"

// Secret is a vault entry. Its value is stored encrypted (Ciphertext,
// sealed with the secret's ID as additional data) and never leaves the
// server through the API.
type Secret struct {
	ID           string
	Name         string
	CustomerID   string // "" = usable by any customer's deployments
	AllowedHosts []string
	Ciphertext   []byte // nonce followed by AES-256-GCM output
	CreatedAt    time.Time
	RotatedAt    *time.Time
}
