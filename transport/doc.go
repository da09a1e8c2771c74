// Package transport is doorface's HTTP API: the door tablet's frame, PIN and event-stream endpoints and
// the installer's admin endpoints.
//
// # What it owns
//
// Routing, authentication (door and admin bearer tokens), request size limits, the JSON and
// Server-Sent Events encodings, and the mapping of errors to status codes.
//
// # What it must not do
//
// It must not decide anything about the door: every decision is the state machine's (package
// machine). It must not decode images itself or link cgo: vision sits behind an interface that main
// wires in. It must not touch GPIO or the database file directly.
package transport
