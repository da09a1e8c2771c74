package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/doorface/doorface/transport/api"
)

// maxIDLen bounds session and user ids in paths, headers and bodies.
const maxIDLen = 64

// maxPINLen bounds a PIN in a request; the store enforces the real policy.
const maxPINLen = 32

// validID reports whether s is a non-empty id of [A-Za-z0-9_-], at most 64 bytes.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validPIN reports whether p is 1..32 ASCII digits.
func validPIN(p string) bool {
	if p == "" || len(p) > maxPINLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

var (
	errBadSession = httpErr(http.StatusBadRequest, api.CodeBadSession, "session id must be 1-64 characters of A-Z a-z 0-9 _ -", nil)
	errBadID      = httpErr(http.StatusBadRequest, api.CodeBadID, "id must be 1-64 characters of A-Z a-z 0-9 _ -", nil)
	errBadPIN     = httpErr(http.StatusBadRequest, api.CodeBadPIN, "pin must be 1-32 digits", nil)
	errTooLarge   = httpErr(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "request body too large", nil)
	errNotJSON    = httpErr(http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType, "body must be application/json", nil)
	errMediaType  = httpErr(http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType, "body must be image/jpeg, image/png or text/plain (base64)", nil)
)

// pathID returns the validated {id} path value.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !validID(id) {
		return "", errBadID
	}
	return id, nil
}

// imageContentType maps a request's Content-Type to what Frames.Decode takes. With compat (the
// prototype's /image and /save) every type but image/jpeg and image/png is read as base64 text.
func imageContentType(header string, compat bool) (string, error) {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		mt = ""
	}
	switch mt {
	case "image/jpeg", "image/png", "text/plain":
		return mt, nil
	}
	if compat {
		return "text/plain", nil
	}
	return "", errMediaType
}

// imageLimit is the body limit for a content type: base64 text may be 4/3 of the binary limit.
func imageLimit(maxBody int64, contentType string) int64 {
	if contentType == "text/plain" {
		return maxBody/3*4 + 1024
	}
	return maxBody
}

// readBody reads the whole body, at most limit bytes (413 too_large beyond), with a read deadline.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.o.BodyTimeout))
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, httpErr(http.StatusBadRequest, api.CodeBadRequest, "could not read the request body", err)
	}
	return b, nil
}

// readJSON checks the content type, reads at most MaxJSON bytes and decodes exactly one JSON
// object with no unknown fields into v.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if err := checkJSONType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	b, err := s.readBody(w, r, s.o.MaxJSON)
	if err != nil {
		return err
	}
	return decodeStrict(b, v)
}

// checkJSONType answers 415 unless the Content-Type is application/json.
func checkJSONType(header string) error {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil || mt != "application/json" {
		return errNotJSON
	}
	return nil
}

// decodeStrict decodes exactly one JSON object with no unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return httpErr(http.StatusBadRequest, api.CodeBadJSON, "body is not the expected JSON object", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return httpErr(http.StatusBadRequest, api.CodeBadJSON, "body must hold exactly one JSON object", nil)
	}
	return nil
}

// pinRequest is the body of POST /v1/pin.
type pinRequest struct {
	Session string `json:"session"`
	PIN     string `json:"pin"`
}

// parsePinRequest decodes and validates a PIN request body.
func parsePinRequest(b []byte) (pinRequest, error) {
	var p pinRequest
	if err := decodeStrict(b, &p); err != nil {
		return pinRequest{}, err
	}
	if !validID(p.Session) {
		return pinRequest{}, errBadSession
	}
	if !validPIN(p.PIN) {
		return pinRequest{}, errBadPIN
	}
	return p, nil
}

// frameRequest is what the frame endpoints take from a request before the body is decoded.
type frameRequest struct {
	Session     string // "" = join the active session or start one
	ContentType string // for Frames.Decode
	Limit       int64  // body limit
}

// parseFrameRequest validates the session header and content type of a frame request.
func parseFrameRequest(sessionHeader, contentType string, compat bool, maxBody int64) (frameRequest, error) {
	if sessionHeader != "" && !validID(sessionHeader) {
		return frameRequest{}, errBadSession
	}
	ct, err := imageContentType(contentType, compat)
	if err != nil {
		return frameRequest{}, err
	}
	return frameRequest{Session: sessionHeader, ContentType: ct, Limit: imageLimit(maxBody, ct)}, nil
}

// inputError maps an error of Frames.Decode or Users.AddFace to its answer.
func inputError(err error) error {
	for _, in := range inputRefusals {
		if errors.Is(err, in.sentinel) {
			return httpErr(in.status, in.code, in.msg, err)
		}
	}
	return err
}
