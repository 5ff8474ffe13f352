package memory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
)

// Tombstones: a memory that a person, the agent or the observer deleted
// (or replaced with another fact) leaves the hash of its normalized
// content in .herm/memory/.tombstones, one a line, the newest
// maxTombstones kept. The observer never adds or writes a fact whose hash
// is there, so that it does not re-create from the same conversation what
// someone made it forget. The agent and the API may: they are told to.
const (
	tombstones    = Dir + "/.tombstones"
	maxTombstones = 2000
)

// normalize is the form of a fact that tombstones compare: lower case,
// letters and digits only, words separated by one space.
func normalize(content string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(content) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
			continue
		}
		space = true
	}
	return b.String()
}

// sameFact reports whether two contents are one fact for tombstones.
func sameFact(a, b string) bool { return normalize(a) == normalize(b) }

// tombstone is the hash of content's normalized form.
func tombstone(content string) string {
	h := sha256.Sum256([]byte(normalize(content)))
	return hex.EncodeToString(h[:16])
}

// readTombstones returns the tombstones of a workspace (none when the file
// is absent or unreadable).
func readTombstones(ws *sandbox.Workspace) ([]string, error) {
	data, err := ws.ReadFile(tombstones, 64*maxTombstones)
	if err != nil {
		if herm.ErrorCode(err) == herm.EInternal {
			return nil, err
		}
		return nil, nil
	}
	return strings.Fields(string(data)), nil
}

// bury records content's tombstone; s.mu is held.
func (s *Store) bury(ws *sandbox.Workspace, content string) error {
	list, err := readTombstones(ws)
	if err != nil {
		return err
	}
	t := tombstone(content)
	for _, x := range list {
		if x == t {
			return nil
		}
	}
	list = append(list, t)
	if len(list) > maxTombstones {
		list = list[len(list)-maxTombstones:]
	}
	_, err = ws.WriteFile(tombstones, bytes.NewReader([]byte(strings.Join(list, "\n")+"\n")))
	return err
}

// buried reports whether content's fact was deleted before.
func (s *Store) buried(ws *sandbox.Workspace, content string) (bool, error) {
	list, err := readTombstones(ws)
	if err != nil {
		return false, err
	}
	t := tombstone(content)
	for _, x := range list {
		if x == t {
			return true, nil
		}
	}
	return false, nil
}

// Buried reports whether content's fact was deleted (or replaced) before:
// the observer leaves it alone.
func (s *Store) Buried(ws *sandbox.Workspace, content string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buried(ws, content)
}

// instructionPrefixes start texts that address the agent rather than state
// a fact about the customer.
var instructionPrefixes = []string{
	"ignore ", "disregard ", "forget ", "you must", "you should", "you are ", "you will",
	"system:", "system prompt", "new instructions", "from now on", "override",
}

// instructionPhrases anywhere in a text make it an instruction.
var instructionPhrases = []string{
	"ignore previous", "ignore all previous", "ignore the above", "ignore your instructions", "previous instructions",
	"system prompt", "disregard previous", "disregard your", "override your", "new instructions", "you must ",
	"jailbreak",
}

// LooksLikeInstruction reports whether content reads as an instruction to
// the agent ("ignore previous…", "you must…") rather than a fact: the
// observer does not remember such text, which a conversation could use to
// plant commands in every later run's system prompt.
func LooksLikeInstruction(content string) bool {
	c := " " + normalizeSpaces(strings.ToLower(content))
	for _, p := range instructionPrefixes {
		if strings.HasPrefix(c[1:], p) {
			return true
		}
	}
	for _, p := range instructionPhrases {
		if strings.Contains(c, p) {
			return true
		}
	}
	return false
}

func normalizeSpaces(s string) string { return strings.Join(strings.Fields(s), " ") }
