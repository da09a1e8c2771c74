package transport

import (
	"errors"
	"net/http"

	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport/api"
)

// Policies manages users' access policies and the named weekly schedules; it is part of Users
// (main wires the store behind it). Errors: store.ErrNotFound (404), store.ErrInvalidPolicy and
// store.ErrInvalidValidity (400 bad_policy), store.ErrInvalidSchedule (400 bad_schedule),
// store.ErrScheduleInUse (409), store.ErrPINPolicy (400) and store.ErrPINInUse (409).
type Policies interface {
	SetPolicy(userID string, p api.Policy) error
	SetDuressPIN(userID, pin string) error
	ListSchedules() ([]api.Schedule, error)
	GetSchedule(name string) (api.Schedule, error)
	PutSchedule(s api.Schedule) error
	DeleteSchedule(name string) error
}

// policyError maps the policy errors of the store to their answers, then as storeError.
func policyError(err error) error {
	switch {
	case errors.Is(err, store.ErrInvalidPolicy), errors.Is(err, store.ErrInvalidValidity):
		return httpErr(http.StatusBadRequest, api.CodeBadPolicy, err.Error(), err)
	case errors.Is(err, store.ErrInvalidSchedule):
		return httpErr(http.StatusBadRequest, api.CodeBadSchedule, err.Error(), err)
	case errors.Is(err, store.ErrScheduleInUse):
		return httpErr(http.StatusConflict, api.CodeScheduleInUse, err.Error(), err)
	}
	return storeError(err)
}

// scheduleName returns the validated {name} path value.
func scheduleName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if len(name) == 0 || len(name) > 40 {
		return "", httpErr(http.StatusBadRequest, api.CodeBadSchedule, "a schedule name is 1 to 40 of a-z, 0-9, '-' and '_'", nil)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", httpErr(http.StatusBadRequest, api.CodeBadSchedule, "a schedule name is 1 to 40 of a-z, 0-9, '-' and '_'", nil)
		}
	}
	return name, nil
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req api.Policy
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.o.Users.SetPolicy(id, req); err != nil {
		return policyError(err)
	}
	u, err := s.o.Users.GetUser(id)
	if err != nil {
		return storeError(err)
	}
	s.log.Info("user policy changed", "user", id, "enabled", req.Enabled, "mode", req.Mode, "schedule", req.Schedule)
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) putDuressPIN(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req api.DuressPINRequest
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	if req.PIN != "" && !validPIN(req.PIN) {
		return errBadPIN
	}
	if err := s.o.Users.SetDuressPIN(id, req.PIN); err != nil {
		return policyError(err)
	}
	s.log.Info("user duress PIN changed", "user", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listSchedules(w http.ResponseWriter, _ *http.Request) error {
	ss, err := s.o.Users.ListSchedules()
	if err != nil {
		return policyError(err)
	}
	if ss == nil {
		ss = []api.Schedule{}
	}
	writeJSON(w, http.StatusOK, api.ScheduleList{Schedules: ss})
	return nil
}

func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request) error {
	name, err := scheduleName(r)
	if err != nil {
		return err
	}
	sc, err := s.o.Users.GetSchedule(name)
	if err != nil {
		return policyError(err)
	}
	writeJSON(w, http.StatusOK, sc)
	return nil
}

func (s *Server) putSchedule(w http.ResponseWriter, r *http.Request) error {
	name, err := scheduleName(r)
	if err != nil {
		return err
	}
	var req api.Schedule
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name != "" && req.Name != name {
		return httpErr(http.StatusBadRequest, api.CodeBadSchedule, "the body's name differs from the path's", nil)
	}
	req.Name = name
	if err := s.o.Users.PutSchedule(req); err != nil {
		return policyError(err)
	}
	s.log.Info("schedule saved", "schedule", name, "windows", len(req.Windows))
	sc, err := s.o.Users.GetSchedule(name)
	if err != nil {
		return policyError(err)
	}
	writeJSON(w, http.StatusOK, sc)
	return nil
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request) error {
	name, err := scheduleName(r)
	if err != nil {
		return err
	}
	if err := s.o.Users.DeleteSchedule(name); err != nil {
		return policyError(err)
	}
	s.log.Info("schedule deleted", "schedule", name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
