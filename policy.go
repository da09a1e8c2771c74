package main

import (
	"errors"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport/api"
)

// This file is where the access policy meets: the store's users, PINs and schedules become the
// machine's identities and policies, and the API's wire types become the store's.

// LookupPIN finds the owner of a PIN or duress PIN, with their policy.
func (d directory) LookupPIN(pin string) (machine.PINOwner, bool, error) {
	u, duress, ok, err := d.db.FindPIN(pin)
	if err != nil || !ok {
		return machine.PINOwner{}, false, err
	}
	id, err := machineIdentity(d.db, u)
	if err != nil {
		return machine.PINOwner{}, false, err
	}
	return machine.PINOwner{Identity: id, Duress: duress}, true, nil
}

// User returns the user with this id and their policy; a deleted user is not found.
func (d directory) User(id string) (machine.Identity, bool, error) {
	u, err := d.db.GetUser(id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return machine.Identity{}, false, nil
	case err != nil:
		return machine.Identity{}, false, err
	}
	ident, err := machineIdentity(d.db, u)
	return ident, err == nil, err
}

// machineIdentity is a stored user with the policy the machine evaluates. A schedule that
// vanished is passed by name only, and the machine denies (fail closed).
func machineIdentity(db *store.DB, u store.User) (machine.Identity, error) {
	p := machine.Policy{Enabled: u.Enabled, ValidFrom: u.ValidFrom, ValidUntil: u.ValidUntil,
		Mode: machine.AuthMode(u.Mode), ScheduleName: u.Schedule}
	if u.Schedule != "" {
		s, err := db.GetSchedule(u.Schedule)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return machine.Identity{}, err
		default:
			ms := machineSchedule(s)
			p.Schedule = &ms
		}
	}
	return machine.Identity{ID: u.ID, Name: u.Name, Policy: p}, nil
}

// machineSchedule converts a stored (validated) schedule; a window that no longer parses is
// left out, so it allows nothing.
func machineSchedule(s store.Schedule) machine.Schedule {
	out := machine.Schedule{Name: s.Name}
	for _, w := range s.Windows {
		days, from, until, err := w.Parse()
		if err != nil {
			continue
		}
		out.Windows = append(out.Windows, machine.Window{Days: days, From: from, Until: until})
	}
	return out
}

// SetPolicy replaces a user's access policy.
func (u users) SetPolicy(id string, p api.Policy) error {
	return u.db.SetPolicy(id, storePolicy(p))
}

// storePolicy converts the wire policy.
func storePolicy(p api.Policy) store.UserPolicy {
	sp := store.UserPolicy{Enabled: p.Enabled, Mode: p.Mode, Schedule: p.Schedule}
	if p.ValidFrom != nil {
		sp.ValidFrom = *p.ValidFrom
	}
	if p.ValidUntil != nil {
		sp.ValidUntil = *p.ValidUntil
	}
	return sp
}

// SetDuressPIN sets or ("") removes a user's duress PIN.
func (u users) SetDuressPIN(id, pin string) error { return u.db.SetDuressPIN(id, pin) }

func (u users) ListSchedules() ([]api.Schedule, error) {
	ss, err := u.db.ListSchedules()
	out := make([]api.Schedule, 0, len(ss))
	for _, s := range ss {
		out = append(out, wireSchedule(s))
	}
	return out, err
}

func (u users) GetSchedule(name string) (api.Schedule, error) {
	s, err := u.db.GetSchedule(name)
	return wireSchedule(s), err
}

func (u users) PutSchedule(s api.Schedule) error { return u.db.PutSchedule(storeSchedule(s)) }

func (u users) DeleteSchedule(name string) error { return u.db.DeleteSchedule(name) }

func wireSchedule(s store.Schedule) api.Schedule {
	out := api.Schedule{Name: s.Name, Windows: []api.Window{}}
	for _, w := range s.Windows {
		out.Windows = append(out.Windows, api.Window{Days: w.Days, From: w.From, Until: w.Until})
	}
	return out
}

func storeSchedule(s api.Schedule) store.Schedule {
	out := store.Schedule{Name: s.Name}
	for _, w := range s.Windows {
		out.Windows = append(out.Windows, store.Window{Days: w.Days, From: w.From, Until: w.Until})
	}
	return out
}
