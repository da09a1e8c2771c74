package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/doorface/doorface/transport/api"
)

// SetPolicy calls PUT /v1/users/{id}/policy and returns the user with the new policy.
func (c *Client) SetPolicy(ctx context.Context, id string, p api.Policy) (api.User, error) {
	var u api.User
	err := c.jsonCall(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(id)+"/policy", p, &u)
	return u, err
}

// SetDuressPIN calls PUT /v1/users/{id}/duress-pin; "" removes the duress PIN.
func (c *Client) SetDuressPIN(ctx context.Context, id, pin string) error {
	return c.jsonCall(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(id)+"/duress-pin", api.DuressPINRequest{PIN: pin}, nil)
}

// Schedules calls GET /v1/schedules.
func (c *Client) Schedules(ctx context.Context) ([]api.Schedule, error) {
	var l api.ScheduleList
	err := c.jsonCall(ctx, http.MethodGet, "/v1/schedules", nil, &l)
	return l.Schedules, err
}

// Schedule calls GET /v1/schedules/{name}.
func (c *Client) Schedule(ctx context.Context, name string) (api.Schedule, error) {
	var s api.Schedule
	err := c.jsonCall(ctx, http.MethodGet, "/v1/schedules/"+url.PathEscape(name), nil, &s)
	return s, err
}

// PutSchedule calls PUT /v1/schedules/{name} (create or replace).
func (c *Client) PutSchedule(ctx context.Context, s api.Schedule) (api.Schedule, error) {
	var out api.Schedule
	err := c.jsonCall(ctx, http.MethodPut, "/v1/schedules/"+url.PathEscape(s.Name), s, &out)
	return out, err
}

// DeleteSchedule calls DELETE /v1/schedules/{name}.
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	return c.jsonCall(ctx, http.MethodDelete, "/v1/schedules/"+url.PathEscape(name), nil, nil)
}
