package transport

import (
	"net/http"
	"slices"
)

// Role is who may call a route.
type Role string

// The roles. A door token opens door routes, an admin token admin routes; RoleAny routes take
// either token and RolePublic routes (GET /healthz, the pages, login and pairing) take none.
const (
	RolePublic Role = "public"
	RoleDoor   Role = "door"
	RoleAdmin  Role = "admin"
	RoleAny    Role = "any"
)

// handlerFunc is a route's handler: it returns an error instead of writing one, and the adapter
// (Server.wrap) turns the error into the answer.
type handlerFunc func(s *Server, w http.ResponseWriter, r *http.Request) error

// Route is one entry of the routing table: Method and Pattern as in net/http.ServeMux (Go 1.22
// patterns) and the Role allowed to call it.
type Route struct {
	Method  string
	Pattern string
	Role    Role

	h handlerFunc
}

// String returns "METHOD /pattern", the ServeMux pattern and the route label in logs and metrics.
func (rt Route) String() string { return rt.Method + " " + rt.Pattern }

// routes is the one table the router is built from; the OpenAPI test checks every entry is
// documented in openapi.yaml.
var routes = []Route{
	{http.MethodGet, "/healthz", RolePublic, (*Server).getHealthz},

	// Door role: the tablet.
	{http.MethodPost, "/v1/frames", RoleDoor, (*Server).postFrames},
	{http.MethodPost, "/v1/pin", RoleDoor, (*Server).postPIN},
	{http.MethodDelete, "/v1/session", RoleDoor, (*Server).deleteSession},
	{http.MethodGet, "/v1/state", RoleAny, (*Server).getState},
	{http.MethodGet, "/v1/events", RoleAny, (*Server).getEvents},
	{http.MethodPost, "/image", RoleDoor, (*Server).postImage},
	{http.MethodPost, "/save", RoleDoor, (*Server).postSave},

	// Admin role: the installer.
	{http.MethodPost, "/v1/users", RoleAdmin, (*Server).postUser},
	{http.MethodGet, "/v1/users", RoleAdmin, (*Server).listUsers},
	{http.MethodGet, "/v1/users/{id}", RoleAdmin, (*Server).getUser},
	{http.MethodDelete, "/v1/users/{id}", RoleAdmin, (*Server).deleteUser},
	{http.MethodPut, "/v1/users/{id}/pin", RoleAdmin, (*Server).putPIN},
	{http.MethodPost, "/v1/users/{id}/faces", RoleAdmin, (*Server).postFace},
	{http.MethodGet, "/v1/users/{id}/templates", RoleAdmin, (*Server).listTemplates},
	{http.MethodDelete, "/v1/users/{id}/templates/{tid}", RoleAdmin, (*Server).deleteTemplate},
	{http.MethodPost, "/v1/enrollment", RoleAdmin, (*Server).postEnrollment},
	{http.MethodGet, "/v1/enrollment", RoleAdmin, (*Server).getEnrollment},
	{http.MethodDelete, "/v1/enrollment", RoleAdmin, (*Server).deleteEnrollment},
	{http.MethodPut, "/v1/users/{id}/policy", RoleAdmin, (*Server).putPolicy},
	{http.MethodPut, "/v1/users/{id}/duress-pin", RoleAdmin, (*Server).putDuressPIN},
	{http.MethodGet, "/v1/schedules", RoleAdmin, (*Server).listSchedules},
	{http.MethodGet, "/v1/schedules/{name}", RoleAdmin, (*Server).getSchedule},
	{http.MethodPut, "/v1/schedules/{name}", RoleAdmin, (*Server).putSchedule},
	{http.MethodDelete, "/v1/schedules/{name}", RoleAdmin, (*Server).deleteSchedule},
	{http.MethodGet, "/v1/audit", RoleAdmin, (*Server).getAudit},
	{http.MethodGet, "/v1/audit/verify", RoleAdmin, (*Server).getAuditVerify},
	{http.MethodGet, "/v1/audit/{id}", RoleAdmin, (*Server).getAttempt},
	{http.MethodGet, "/v1/audit/{id}/frame", RoleAdmin, (*Server).getAttemptFrame},
	{http.MethodGet, "/v1/audit/head", RoleAdmin, (*Server).getAuditHead},
	{http.MethodGet, "/v1/lockout", RoleAdmin, (*Server).getLockout},
	{http.MethodPost, "/v1/lockout/reset", RoleAdmin, (*Server).postLockoutReset},
	{http.MethodGet, "/metrics", RoleAdmin, (*Server).getMetrics},
	{http.MethodGet, "/openapi.yaml", RoleAny, (*Server).getOpenAPI},

	// Browser pages and their cookie sessions (Options.Web; 404 without it).
	{http.MethodGet, "/door", RolePublic, webRoute(Web.Page)},
	{http.MethodGet, "/admin", RolePublic, webRoute(Web.Page)},
	{http.MethodGet, "/assets/{name}", RolePublic, webRoute(Web.Page)},
	{http.MethodPost, "/v1/login", RolePublic, webRoute(Web.Login)},
	{http.MethodPost, "/v1/logout", RoleAny, webRoute(Web.Logout)},
	{http.MethodPost, "/v1/pair", RolePublic, webRoute(Web.Pair)},
	{http.MethodPost, "/v1/pairing", RoleAdmin, webRoute(Web.NewPairing)},
	{http.MethodGet, "/v1/health", RoleAdmin, webRoute(Web.Health)},
}

// Routes returns a copy of the routing table.
func Routes() []Route { return slices.Clone(routes) }
