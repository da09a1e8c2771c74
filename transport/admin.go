package transport

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"

	"github.com/doorface/doorface/transport/api"
)

// storeError maps an error of the store (through Users or Audit) to its answer.
func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return httpErr(http.StatusNotFound, api.CodeNotFound, "no such record", err)
	case errors.Is(err, store.ErrPruned):
		return httpErr(http.StatusGone, api.CodePruned, "the evidence frame was deleted by retention", err)
	case errors.Is(err, store.ErrInvalidName):
		return httpErr(http.StatusBadRequest, api.CodeInvalidName, "name must be non-empty, short, without control characters", err)
	case errors.Is(err, store.ErrPINPolicy):
		// The store's message names the rule that failed and never the PIN.
		return httpErr(http.StatusBadRequest, api.CodePINPolicy, err.Error(), err)
	case errors.Is(err, store.ErrNameInUse):
		return httpErr(http.StatusConflict, api.CodeNameInUse, "another user already has this name", err)
	case errors.Is(err, store.ErrPINInUse):
		return httpErr(http.StatusConflict, api.CodePINInUse, "another user already has this PIN", err)
	case errors.Is(err, store.ErrFormat):
		return httpErr(http.StatusBadRequest, api.CodeBadFormat, "format must be jsonl or csv", err)
	case errors.Is(err, store.ErrReadOnly), errors.Is(err, store.ErrClosed):
		return httpErr(http.StatusServiceUnavailable, api.CodeStoreUnavailable, "the database is not writable now", err)
	}
	return inputError(err)
}

func (s *Server) postUser(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateUserRequest
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	if req.PIN != "" && !validPIN(req.PIN) {
		return errBadPIN
	}
	u, err := s.o.Users.CreateUser(req.Name, req.PIN)
	if err != nil {
		return storeError(err)
	}
	s.log.Info("user created", "user", u.ID)
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, _ *http.Request) error {
	us, err := s.o.Users.ListUsers()
	if err != nil {
		return storeError(err)
	}
	if us == nil {
		us = []api.User{}
	}
	writeJSON(w, http.StatusOK, api.UserList{Users: us})
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	u, err := s.o.Users.GetUser(id)
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.o.Users.DeleteUser(id); err != nil {
		return storeError(err)
	}
	s.log.Info("user deleted", "user", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) putPIN(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req api.SetPINRequest
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	if req.PIN != "" && !validPIN(req.PIN) {
		return errBadPIN
	}
	if err := s.o.Users.SetPIN(id, req.PIN); err != nil {
		return storeError(err)
	}
	s.log.Info("user PIN changed", "user", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// auditOutcomes are the outcomes the audit filter accepts.
var auditOutcomes = map[string]bool{
	"granted": true, "denied": true, "timeout": true, "cancelled": true, "locked_out": true, "interrupted": true,
	"forced_open": true, "held_open": true, "door_closed": true,
}

// parseAuditQuery validates the filter and format of GET /v1/audit.
func parseAuditQuery(q map[string][]string) (api.AuditFilter, string, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var f api.AuditFilter
	var err error
	if f.Since, err = parseTime(get("since")); err != nil {
		return f, "", httpErr(http.StatusBadRequest, api.CodeBadQuery, "since must be RFC 3339 or YYYY-MM-DD", err)
	}
	if f.Until, err = parseTime(get("until")); err != nil {
		return f, "", httpErr(http.StatusBadRequest, api.CodeBadQuery, "until must be RFC 3339 or YYYY-MM-DD", err)
	}
	if f.Outcome = get("outcome"); f.Outcome != "" && !auditOutcomes[f.Outcome] {
		return f, "", httpErr(http.StatusBadRequest, api.CodeBadQuery, "unknown outcome", nil)
	}
	if f.User = get("user"); f.User != "" && !validID(f.User) {
		return f, "", errBadID
	}
	format := get("format")
	switch format {
	case "":
		format = "jsonl"
	case "jsonl", "csv":
	default:
		return f, "", httpErr(http.StatusBadRequest, api.CodeBadFormat, "format must be jsonl or csv", nil)
	}
	return f, format, nil
}

// parseTime reads RFC 3339 or a UTC date; "" is the zero time (open range).
func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, v)
}

// getAudit streams the attempt history as JSON Lines or CSV. The record count is sent as the
// X-Audit-Records trailer; an error after the stream started cuts the connection.
func (s *Server) getAudit(w http.ResponseWriter, r *http.Request) error {
	f, format, err := parseAuditQuery(r.URL.Query())
	if err != nil {
		return err
	}
	ct := "application/x-ndjson"
	if format == "csv" {
		ct = "text/csv; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Trailer", "X-Audit-Records")
	n, err := s.o.Audit.Export(w, format, f)
	if err != nil {
		return storeError(err)
	}
	w.Header().Set("X-Audit-Records", strconv.Itoa(n))
	return nil
}

func (s *Server) getAttempt(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	a, err := s.o.Audit.GetAttempt(id)
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) getAttemptFrame(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	b, err := s.o.Audit.Frame(id)
	if err != nil {
		return storeError(err)
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	return nil
}

func (s *Server) getAuditVerify(w http.ResponseWriter, _ *http.Request) error {
	rep, err := s.o.Audit.Verify()
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) getAuditHead(w http.ResponseWriter, _ *http.Request) error {
	h, err := s.o.Audit.Head()
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// lockoutOf is the machine's lockout as the API shows it.
func (s *Server) lockoutOf(l machine.Lockout) api.Lockout {
	return api.Lockout{Failures: l.Failures, Level: l.Level, Until: l.Until.UTC(), Active: l.Until.After(s.o.Clock.Now())}
}

func (s *Server) getLockout(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, s.lockoutOf(s.o.Door.Lockout()))
	return nil
}

// postLockoutReset clears the PIN lockout (audited by the machine's store as an admin record)
// and answers the lockout that was cleared.
func (s *Server) postLockoutReset(w http.ResponseWriter, r *http.Request) error {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	was, err := s.o.Door.ResetLockout("admin API from " + host)
	if err != nil {
		return s.doorError(err)
	}
	s.log.Warn("PIN lockout reset through the API", "client", r.RemoteAddr)
	writeJSON(w, http.StatusOK, s.lockoutOf(was))
	return nil
}
