// Package layers holds no code: its test keeps the module's imports
// pointing down the layers drawn in docs/architecture.md, so that a package
// never imports one of its own layer or of a layer above it.
package layers
