//go:build !linux

// Package local is the default sandbox driver on Linux; elsewhere it only
// reports that it cannot run.
package local

// MaybeRunInit does nothing outside Linux.
func MaybeRunInit() {}
