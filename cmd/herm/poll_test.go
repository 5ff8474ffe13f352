package main

import (
	"testing"
	"time"
)

// pollTimeout bounds every poll in these tests: a condition that does not
// come true fails the test instead of hanging the suite.
const pollTimeout = 30 * time.Second

// waitUntil calls cond every few milliseconds until it holds, and fails
// the test, saying what it waited for, after pollTimeout.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", pollTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
