package live

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	query "github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/model"
)

// Authentication and authorization of the API. Every request passes
// through (*api).admit before any handler: with authentication on (once
// the cluster has a token, or its setting auth.required is true) a
// request must carry one of the cluster's API tokens, as Authorization:
// Bearer TOKEN, whose role grants the right its route needs (routeNeeds).
//
//   - No Authorization header, or one that is not a single bearer token:
//     401 with WWW-Authenticate: Bearer realm="shoal". A token the
//     cluster does not know (revoked, or never made there): 401 with
//     error="invalid_token" added. This is so on every path, routes
//     that do not exist included: a client without a token learns
//     nothing of the route table.
//   - A token whose role lacks the right: 403.
//   - GET /healthz and GET /readyz are always open. GET /metrics needs
//     read of the cluster (the role reader has it): a Prometheus scraper
//     sends its token as a bearer token.
//   - POST /v1/tokens takes a request without a token while the cluster
//     has none: that is how the first token (it must be an admin's) is
//     made, also when auth.required turned authentication on before it.
//   - POST /v1/ingest/{connector}: an API token whose role may write
//     ingest hands messages to any connector. A connector that declares
//     token_sha256 also takes its own tokens, as it always did (the
//     header is then checked by the connector, with 401 for none and 403
//     for a token it does not list); a connector that declares none takes
//     only API tokens while authentication is on.
//   - POST and GET /v1/graphql take any of the cluster's tokens: a query
//     may touch many types, so its fields are checked one by one against
//     the role (api_graphql.go), and one the role may not read or write
//     is an error at its path in the GraphQL response, not a 403.
//
// A role may grant some fields of a type only (cluster.Fields). Reading
// an object, its history or a listing, and patching one, take a role
// that grants any field of the type; the handler then checks the fields
// (fieldAccess):
//
//   - A read answers each object with only the fields the role reads,
//     and its key fields (the key names the object anyway); the fields
//     of other versions than the type's latest, which no right names,
//     are left out too. Revisions and ETags are answered as ever: they
//     are the log's positions, and say nothing of the values.
//   - A listing's filter on a field the role does not read is 403,
//     naming the field: what a filter keeps would tell the values. An
//     order by an index is 403 unless the role reads the whole type:
//     the index's entries, which place the objects and which the
//     cursors carry, may hold fields the index had before a model
//     revision changed it.
//   - A patch that names a field the role does not write is 403, naming
//     the field; so is, for a role that writes some fields only, a
//     patch naming a key field, a name that is no field of the type's
//     latest version, or none at all. Such a role patches an object
//     stored at an older version upgraded to the latest. Its answer holds only the fields the role reads, and
//     none for a role that reads no field of the type. When the role
//     does not read every field the patch names, the patch is written
//     even when it changes nothing, so that the revision does not tell
//     whether the values were the patch's already.
//   - Inserting or replacing an object (PUT) and deleting one take write
//     of the whole type. Their answers name the key and revision, which
//     the caller sent or made; no value.
//   - A write refused for a unique index's key (409) names the index and
//     the object holding the key only to a role that reads the whole
//     type (uniqueConflict); GraphQL's errors say the same.
//
// With authentication off every request is served as before, the
// connectors' own tokens included. A change to the tokens and roles
// counts on an instance once it applied group 0's entry: at once on the
// instance that proposed it, a moment later on the others.

// AccessBackend is what authentication and the token and role
// endpoints need beyond Backend. A backend that is not one serves
// without authentication, and answers the token and role endpoints 501.
type AccessBackend interface {
	// Access is the access configuration in force on this instance; ok
	// is false while the instance cannot know it (it has not applied
	// the configuration of a cluster it belongs to yet).
	Access() (acc *cluster.Access, ok bool)
	// CreateToken adds t through group 0 (cluster.CreateToken) and waits
	// for it: nil once this instance applied it, ErrAccessRefused with
	// group 0's reason, or ErrUnknownOutcome.
	CreateToken(ctx context.Context, t cluster.Token, bootstrap bool) error
	// RevokeToken, SetRole and DeleteRole are the other changes, answered
	// alike.
	RevokeToken(ctx context.Context, idOrName string) error
	SetRole(ctx context.Context, r cluster.Role) error
	DeleteRole(ctx context.Context, name string) error
}

// ErrAccessRefused wraps the reason group 0 refused a change to the
// tokens or roles.
var ErrAccessRefused = errors.New("refused")

// Realm is the realm of the WWW-Authenticate header of the API's 401s.
const Realm = "shoal"

// need is the right a route needs.
type need struct {
	open  bool // anyone, authentication on or off
	admin bool // to change the cluster
	write bool
	// object is kv, ingest or cluster; "" for the data type the path
	// names in its {type} segment.
	object string
	// bootstrap: taken without a token while the cluster has none.
	bootstrap bool
	// everyType: reading it reads data of every type (the repair
	// queue's payloads), so it needs read of "*".
	everyType bool
	// anyToken: any of the cluster's tokens is let in, whatever its
	// role; the handler checks the rights of each thing it does (GraphQL:
	// a query may read and write many types, which the route cannot name).
	anyToken bool
	// fields: a role that grants some fields of the path's type, not
	// all, is let in; the handler checks each field (fieldAccess).
	fields bool
}

var (
	needOpen        = need{open: true}
	needAdmin       = need{admin: true}
	needReadCluster = need{object: cluster.ObjectCluster}
	needReadKV      = need{object: cluster.ObjectKV}
	needWriteKV     = need{write: true, object: cluster.ObjectKV}
	needWriteType   = need{write: true}
	needReadFields  = need{fields: true}
	needWriteFields = need{write: true, fields: true}
	needIngest      = need{write: true, object: cluster.ObjectIngest}
	needReadAllData = need{everyType: true}
	needAnyToken    = need{anyToken: true}
)

// routeNeeds is the right each route NewAPI registers needs, by its
// pattern. A route missing here is served to admin tokens only, and
// TestAuthMatrix fails until it has its entry.
var routeNeeds = map[string]need{
	"PUT /v1/kv/{key}":                              needWriteKV,
	"GET /v1/kv/{key}":                              needReadKV,
	"DELETE /v1/kv/{key}":                           needWriteKV,
	"POST /v1/kv/{key}/cas":                         needWriteKV,
	"GET /v1/cluster":                               needReadCluster,
	"POST /v1/cluster/instances/{name}/expel":       needAdmin,
	"GET /v1/cluster/rebalance":                     needReadCluster,
	"POST /v1/cluster/rebalance/pause":              needAdmin,
	"POST /v1/cluster/rebalance/resume":             needAdmin,
	"POST /v1/cluster/rebalance/abort":              needAdmin,
	"GET /v1/model":                                 needReadCluster,
	"PUT /v1/model":                                 needAdmin,
	"GET /v1/model/versions":                        needReadCluster,
	"DELETE /v1/model/pending":                      needAdmin,
	"PUT /v1/data/{type}":                           needWriteType,
	"GET /v1/data/{type}":                           needReadFields,
	"PUT /v1/data/{type}/{key}":                     needWriteType,
	"PATCH /v1/data/{type}/{key}":                   needWriteFields,
	"GET /v1/data/{type}/{key}":                     needReadFields,
	"GET /v1/data/{type}/{key}/history":             needReadFields,
	"DELETE /v1/data/{type}/{key}":                  needWriteType,
	"POST /v1/graphql":                              needAnyToken,
	"GET /v1/graphql":                               needAnyToken,
	"GET /v1/graphql/schema":                        needReadCluster,
	"POST /v1/ingest/{connector}":                   needIngest,
	"GET /v1/queue":                                 needReadCluster,
	"GET /v1/repair":                                needReadAllData,
	"GET /v1/repair/{replicaset}/{position}":        needReadAllData,
	"PUT /v1/repair/{replicaset}/{position}":        needAdmin,
	"POST /v1/repair/{replicaset}/{position}/retry": needAdmin,
	"DELETE /v1/repair/{replicaset}/{position}":     needAdmin,
	"GET /v1/pipeline":                              needReadCluster,
	"PUT /v1/pipeline":                              needAdmin,
	"POST /v1/tokens":                               {admin: true, bootstrap: true},
	"GET /v1/tokens":                                needAdmin,
	"DELETE /v1/tokens/{id}":                        needAdmin,
	"GET /v1/roles":                                 needAdmin,
	"GET /v1/roles/{name}":                          needAdmin,
	"PUT /v1/roles/{name}":                          needAdmin,
	"DELETE /v1/roles/{name}":                       needAdmin,
	"GET /healthz":                                  needOpen,
	"GET /readyz":                                   needOpen,
	"GET /metrics":                                  needReadCluster,

	// Like GraphQL: a service's Reads and Writes are checked against
	// the role as it is called (api_service.go).
	"GET /v1/services":         needAnyToken,
	"POST /v1/services/{name}": needAnyToken,
	"GET /v1/services/{name}":  needAnyToken,
}

// right is the right a request to the route needs; escapedPath names the
// data type, for a route of one.
func (n need) right(escapedPath string) cluster.Right {
	switch {
	case n.admin:
		return cluster.Right{Admin: true}
	case n.object != "":
		return cluster.Right{Write: n.write, Object: n.object}
	case n.everyType:
		return cluster.Right{Write: n.write, Type: true, Object: cluster.AllTypes}
	}
	return cluster.Right{Write: n.write, Type: true, Object: pathType(escapedPath)}
}

// pathType is the type an escaped path /v1/data/{type}... names.
func pathType(escapedPath string) string {
	tail, _ := strings.CutPrefix(escapedPath, "/v1/data/")
	seg, _, _ := strings.Cut(tail, "/")
	if typ, err := url.PathUnescape(seg); err == nil {
		return typ
	}
	return seg
}

// principal is who sent a request, as admit found.
type principal struct {
	// on: authentication is on.
	on bool
	// token is the API token the request carries; nil for none.
	token *cluster.Token
	// foreign: the request carries a bearer token that is not one of the
	// cluster's. Only POST /v1/ingest lets it through, for the
	// connector to judge.
	foreign bool
	// role is the token's role, as it was when admit found it; known is
	// false when the token's role is gone (it grants nothing).
	role  cluster.Role
	known bool
}

type principalKey struct{}

// principalOf is who sent the request; the zero principal when
// authentication is off.
func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// accessWait bounds how long a request waits for an instance that just
// started to learn the tokens in force.
const accessWait = 3 * time.Second

// awaitAccess waits until ab knows the tokens in force, for at most
// accessWait, the API's timeout, or ctx.
func (a *api) awaitAccess(ctx context.Context, ab AccessBackend) (*cluster.Access, bool) {
	ctx, cancel := context.WithTimeout(ctx, min(accessWait, a.opts.Timeout))
	defer cancel()
	return waitAccess(ctx, ab.Access, nil)
}

// admit authenticates the request, and authorizes it for the route
// pattern (the ServeMux's; "" when no route matched, which any token may
// be told). It answers the request itself when it does not admit it,
// and otherwise returns it with its principal in its context.
func (a *api) admit(w http.ResponseWriter, r *http.Request, pattern string) (*http.Request, bool) {
	ab, ok := a.b.(AccessBackend)
	if !ok {
		return r, true
	}
	nd, known := routeNeeds[pattern]
	switch {
	case nd.open:
		return r, true
	case pattern != "" && !known:
		nd = needAdmin
	}
	acc, ok := ab.Access()
	if !ok {
		// Just started: group 0 is catching up (a read index away when a
		// leader is known). Waiting a little serves the request; refusing
		// it at once would make every instance unusable for a moment
		// after every start.
		acc, ok = a.awaitAccess(r.Context(), ab)
	}
	if !ok {
		w.Header().Set("Retry-After", "1")
		respondError(w, http.StatusServiceUnavailable, fmt.Sprintf("%s: this instance has not applied the cluster's configuration yet, so it cannot check tokens", ErrUnavailable))
		return r, false
	}
	if !acc.On() {
		return r, true
	}
	who := principal{on: true}
	secret, present, why := bearerToken(r)
	switch {
	case !present && nd.bootstrap && len(acc.Tokens) == 0:
		return withPrincipal(r, who), true
	case !present:
		return r, deny(w, unauthorized(w, Realm, false, "this cluster takes only requests with an API token: send Authorization: Bearer TOKEN"))
	case why != "":
		return r, deny(w, unauthorized(w, Realm, false, "%s", why))
	}
	tok, found := acc.Authenticate(secret)
	switch {
	case !found && nd.object == cluster.ObjectIngest:
		who.foreign = true
		return withPrincipal(r, who), true
	case !found:
		return r, deny(w, unauthorized(w, Realm, true, "the token is not one of this cluster's API tokens: it was revoked, or made elsewhere"))
	}
	who.token = &tok
	who.role, who.known = acc.Role(tok.Role)
	r = withPrincipal(r, who)
	if pattern == "" || nd.anyToken {
		return r, true
	}
	right := nd.right(r.URL.EscapedPath())
	switch {
	case who.known && who.role.Allows(right):
	case who.known && nd.fields && who.role.Fields(right.Write, right.Object).Any():
	case nd.fields:
		return r, deny(w, apiErrorf(http.StatusForbidden, "token %s has the role %s, which may not %s, nor any field of it", tok.Name, tok.Role, right))
	default:
		return r, deny(w, apiErrorf(http.StatusForbidden, "token %s has the role %s, which may not %s", tok.Name, tok.Role, right))
	}
	return r, true
}

// fieldAccess is what a request's caller may read, or write, of one
// type's fields.
type fieldAccess struct {
	t *model.Type
	// all: every field (authentication is off, or the role grants the
	// whole type).
	all    bool
	fields cluster.Fields
	// who names the caller for a refusal: "token T (role R)".
	who string
}

// fieldsOf is what the request's caller may write (or read) of t's
// fields. admit let the request in, so its role grants t or a field of
// it.
func fieldsOf(r *http.Request, t *model.Type, write bool) fieldAccess {
	p := principalOf(r)
	if !p.on || p.token == nil {
		// Authentication is off, or on with no token: admit let in only
		// what needs none, which no data route is.
		return fieldAccess{t: t, all: !p.on}
	}
	fa := fieldAccess{t: t, who: fmt.Sprintf("token %s (role %s)", p.token.Name, p.token.Role)}
	if p.known {
		fa.fields = p.role.Fields(write, t.Name)
		fa.all = fa.fields.Whole()
	}
	return fa
}

// has reports whether the caller may read (write) field: one the role
// grants, or a key field. A write cannot change a key field (the key is
// the path's), so naming one in a patch writes nothing of it.
func (fa fieldAccess) has(field string) bool {
	return fa.all || fa.fields.Has(field) || slices.Contains(fa.t.Key, field)
}

// hasEvery reports whether the caller may read (write) every member of
// an object or a patch.
func (fa fieldAccess) hasEvery(members map[string]any) bool {
	return fa.all || !slices.ContainsFunc(slices.Sorted(maps.Keys(members)), func(name string) bool { return !fa.has(name) })
}

// any reports whether the caller may read (write) any field of the type.
func (fa fieldAccess) any() bool { return fa.all || fa.fields.Any() }

// shows reports whether an object's top-level member name is answered
// to the caller: a key field, or a field of the type's latest version
// that the role reads. A member of an older version (a field since
// renamed or split) is not one any right names, and is left out.
func (fa fieldAccess) shows(name string) bool {
	if fa.all || slices.Contains(fa.t.Key, name) {
		return true
	}
	_, latest := fa.t.Versions[len(fa.t.Versions)-1].Field(name)
	return latest && fa.fields.Has(name)
}

// trim is the stored object value with the fields the caller may not
// read left out; the value itself when it may read every field.
func (fa fieldAccess) trim(value []byte) ([]byte, error) {
	if fa.all {
		return value, nil
	}
	v, err := decodeJSON(value)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	for name := range obj { //detlint:unordered each member is kept or dropped on its own; encodeJSON sorts
		if !fa.shows(name) {
			delete(obj, name)
		}
	}
	return encodeJSON(obj)
}

// checkFilters refuses a filter on a field the caller may not read: the
// objects it keeps would tell the field's values.
func (fa fieldAccess) checkFilters(fs query.Filters) error {
	for _, f := range fs {
		if len(f.Path) > 0 && !fa.has(f.Path[0]) {
			return apiErrorf(http.StatusForbidden, "filter %s: %s may not read %s.%s, so it may not filter on it", f.Param, fa.who, fa.t.Name, f.Path[0])
		}
	}
	return nil
}

// checkOrder refuses an order by an index unless the caller reads every
// field of the type. Reading the index's fields is not enough: a model
// revision that changes an index's fields without a new version leaves
// its old entries in place (core/kv's ListOrder), so the order, and the
// cursors, which hold the entries, may tell fields the index no longer
// has.
func (fa fieldAccess) checkOrder(o query.Order) error {
	if fa.all || o.Index == "" {
		return nil
	}
	return apiErrorf(http.StatusForbidden, "order=%s: ordering by an index takes read of every field of %s, which %s lacks (the index's entries may hold fields it had before the model changed); order by the key instead",
		o, fa.t.Name, fa.who)
}

// checkPatch refuses a merge patch the caller may not write: one that
// names a field the role does not write, naming the first in name
// order. A caller that writes some fields only writes fields of the
// type's latest version (patchObject patches the object upgraded to
// it), and so may not name another, a key field (the key is the
// path's, as GraphQL's patches leave it out), or none at all (GraphQL's
// empty patch takes write of the whole type, too).
func (fa fieldAccess) checkPatch(patch map[string]any) error {
	if fa.all {
		return nil
	}
	if len(patch) == 0 {
		return apiErrorf(http.StatusForbidden, "patch: a patch that names no field takes write of the whole type %s, which %s lacks", fa.t.Name, fa.who)
	}
	latest := fa.t.Versions[len(fa.t.Versions)-1]
	for _, name := range slices.Sorted(maps.Keys(patch)) {
		_, field := latest.Field(name)
		switch {
		case slices.Contains(fa.t.Key, name):
			return apiErrorf(http.StatusForbidden, "patch: %s is a key field of %s, which a patch does not change (the key is the path's)", name, fa.t.Name)
		case !field:
			return apiErrorf(http.StatusForbidden, "patch: %s has no field %s in its latest version (%d), the only one %s writes fields of", fa.t.Name, name, fa.t.Latest(), fa.who)
		case !fa.fields.Has(name):
			return apiErrorf(http.StatusForbidden, "patch: %s may not write %s.%s", fa.who, fa.t.Name, name)
		}
	}
	return nil
}

// uniqueConflict is the 409 of a write of typ that would give a unique
// index key to a second object; why is core/kv's refusal, which names
// the index and the object that holds the key. That object, and so the
// value a hidden field of it has, is the caller's to know only when it
// reads every field of the type: a role may write a field it may not
// read. The others are told that the value is taken, which the 409
// tells anyway (cluster's package comment).
func uniqueConflict(r *http.Request, typ, why string) *httpError {
	if p := principalOf(r); p.on && !(p.known && p.role.Fields(false, typ).Whole()) {
		return apiErrorf(http.StatusConflict, "a unique index of %s holds that value already", typ)
	}
	return apiErrorf(http.StatusConflict, "%s", why)
}

func withPrincipal(r *http.Request, p principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// unauthorized sets the WWW-Authenticate header of a 401 and returns the
// 401: invalid adds error="invalid_token" (RFC 6750) for a token that
// was read but is not taken.
func unauthorized(w http.ResponseWriter, realm string, invalid bool, format string, args ...any) *httpError {
	challenge := `Bearer realm="` + realm + `"`
	if invalid {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	return apiErrorf(http.StatusUnauthorized, format, args...)
}

// deny answers a request admit does not admit, and returns false.
func deny(w http.ResponseWriter, e *httpError) bool {
	respond(w, e.status, e.body)
	return false
}

// bearerToken reads the request's Authorization header: the token, or,
// when the header is there (present) but is not one bearer token, why
// not. The reason never quotes the header: it may hold a secret.
func bearerToken(r *http.Request) (token string, present bool, why string) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", false, ""
	}
	if len(values) > 1 {
		return "", true, fmt.Sprintf("header Authorization: sent %d times, want once: Bearer TOKEN", len(values))
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", true, "header Authorization: want Bearer TOKEN (the Bearer scheme, a space, the token)"
	}
	token = strings.TrimLeft(token, " ")
	switch {
	case token == "":
		return "", true, "header Authorization: no token after Bearer"
	case len(token) > MaxTokenLen:
		return "", true, fmt.Sprintf("header Authorization: a token of %d bytes, at most %d", len(token), MaxTokenLen)
	case !token68.MatchString(token):
		return "", true, "header Authorization: the token is not one word of letters, digits and -._~+/ (token68)"
	}
	return token, true, ""
}

// BearerTransport sends Token as a bearer token (Authorization: Bearer
// TOKEN) with every request that sets no Authorization of its own: a
// client's way to carry an API token on every request.
type BearerTransport struct {
	Base  http.RoundTripper // nil is http.DefaultTransport
	Token string
}

// RoundTrip implements http.RoundTripper.
func (t BearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of Base, if it keeps
// any, so that http.Client.CloseIdleConnections reaches them.
func (t BearerTransport) CloseIdleConnections() {
	if c, ok := t.Base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
