// Package herm holds Herm's domain: deployments, threads, messages, runs,
// events and API keys, their validation, the error vocabulary shared by every
// layer, and the interfaces the services implement. It imports nothing of ours.
package herm

import (
	"errors"
	"fmt"
)

// Error codes. They are the contract's wire codes, except ETooLarge which is
// sent as "validation_error" with HTTP 413 (as the contract demands).
const (
	EInvalid            = "validation_error"
	EUnauthorized       = "unauthorized"
	EInsufficientCredit = "insufficient_credits"
	EForbidden          = "forbidden"
	ENotFound           = "not_found"
	ENotReady           = "deployment_not_ready"
	EConflict           = "conflict"
	ECursorExpired      = "cursor_expired"
	ETooLarge           = "payload_too_large"
	EInvalidSkill       = "invalid_skill"
	EInvalidSecretRef   = "invalid_secret_ref"
	ERateLimited        = "rate_limited"
	EInternal           = "server_error"
	EUnavailable        = "unavailable"
)

// Error is an error with a code from the table above. Message is safe to show
// to a customer; Err is the underlying cause, for logs only.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// WithErr returns a copy of e with the cause err (for logs).
func (e *Error) WithErr(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: the code of the first *Error in its
// chain, EInternal for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the customer-safe message of err. Errors that are not
// *Error are internal and get a generic message.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "an internal error occurred"
}

// IsCode reports whether err carries the code.
func IsCode(err error, code string) bool { return ErrorCode(err) == code }
