package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
)

// accessState is an AccessBackend whose tokens and roles group 0's own
// state machine (cluster.Config) decides, in memory.
type accessState struct {
	mu      sync.Mutex
	conf    *cluster.Config
	unknown bool // Access answers that it does not know
}

func newAccessState() *accessState {
	return &accessState{conf: &cluster.Config{Settings: map[string]string{}}}
}

func (s *accessState) Access() (*cluster.Access, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unknown {
		return nil, false
	}
	return s.conf.Access(), true
}

func (s *accessState) apply(cmd cluster.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	back, err := cluster.DecodeCommand(cmd.Encode())
	if err != nil {
		return err
	}
	if err := s.conf.Apply(back); err != nil {
		return fmt.Errorf("%w: %s", ErrAccessRefused, err)
	}
	return nil
}

func (s *accessState) CreateToken(_ context.Context, t cluster.Token, bootstrap bool) error {
	return s.apply(cluster.CreateToken(t, bootstrap))
}
func (s *accessState) RevokeToken(_ context.Context, key string) error {
	return s.apply(cluster.RevokeToken(key))
}
func (s *accessState) SetRole(_ context.Context, r cluster.Role) error {
	return s.apply(cluster.SetRole(r))
}
func (s *accessState) DeleteRole(_ context.Context, name string) error {
	return s.apply(cluster.DeleteRole(name))
}

// addToken adds a token whose secret is "secret-NAME", as the API would,
// and returns the secret.
func (s *accessState) addToken(t testing.TB, name, role string) string {
	t.Helper()
	secret := "secret-" + name
	s.mu.Lock()
	id := fmt.Sprintf("%016x", len(s.conf.Tokens)+1)
	s.mu.Unlock()
	if err := s.CreateToken(context.Background(), cluster.Token{ID: id, Name: name, Role: role, SHA256: cluster.TokenDigest(secret)}, false); err != nil {
		t.Fatal(err)
	}
	return secret
}

// queuesWithAccess serves every endpoint: keys, models (501), the
// pipeline and queues, tokens and roles.
type queuesWithAccess struct {
	*fakeQueues
	*accessState
}

// customRole reads Order and writes Invoice, nothing else; feedRole
// reads keys and hands messages in, nothing else; monitorRole reads the
// cluster's state, which is no data.
var (
	customRole  = cluster.Role{Name: "orders", Read: []string{"Order"}, Write: []string{"Invoice"}}
	feedRole    = cluster.Role{Name: "feeds", Read: []string{"kv"}, Write: []string{"ingest"}}
	monitorRole = cluster.Role{Name: "monitor", Read: []string{"cluster"}}
)

// routeCase is how TestAuthMatrix calls one route: a path for it (one
// per type for a route of a data type), a body, and the right it must
// need, named as a person would say it.
type routeCase struct {
	paths []string
	body  string
	need  string // open, admin, read cluster, read kv, write kv, read type, write type, read every type, ingest, any token
}

// authRoutes are the routes NewAPI registers, each with its case.
var authRoutes = map[string]routeCase{
	"PUT /v1/kv/{key}":                              {paths: []string{"/v1/kv/k"}, body: `{"value":"v"}`, need: "write kv"},
	"GET /v1/kv/{key}":                              {paths: []string{"/v1/kv/k"}, need: "read kv"},
	"DELETE /v1/kv/{key}":                           {paths: []string{"/v1/kv/k"}, need: "write kv"},
	"POST /v1/kv/{key}/cas":                         {paths: []string{"/v1/kv/k/cas"}, body: `{"expected":null,"value":"v"}`, need: "write kv"},
	"GET /v1/cluster":                               {paths: []string{"/v1/cluster"}, need: "read cluster"},
	"GET /v1/model":                                 {paths: []string{"/v1/model"}, need: "read cluster"},
	"PUT /v1/model":                                 {paths: []string{"/v1/model"}, body: "types: {}", need: "admin"},
	"GET /v1/model/versions":                        {paths: []string{"/v1/model/versions"}, need: "read cluster"},
	"DELETE /v1/model/pending":                      {paths: []string{"/v1/model/pending?revision=2"}, need: "admin"},
	"PUT /v1/data/{type}":                           {paths: []string{"/v1/data/Order", "/v1/data/Invoice"}, body: `{"id":"1"}`, need: "write type"},
	"GET /v1/data/{type}":                           {paths: []string{"/v1/data/Order", "/v1/data/Invoice"}, need: "read type"},
	"PUT /v1/data/{type}/{key}":                     {paths: []string{"/v1/data/Order/1", "/v1/data/Invoice/1"}, body: `{"id":"1"}`, need: "write type"},
	"PATCH /v1/data/{type}/{key}":                   {paths: []string{"/v1/data/Order/1", "/v1/data/Invoice/1"}, body: `{}`, need: "write type"},
	"GET /v1/data/{type}/{key}":                     {paths: []string{"/v1/data/Order/1", "/v1/data/Invoice/1"}, need: "read type"},
	"GET /v1/data/{type}/{key}/history":             {paths: []string{"/v1/data/Order/1/history", "/v1/data/Invoice/1/history"}, need: "read type"},
	"DELETE /v1/data/{type}/{key}":                  {paths: []string{"/v1/data/Order/1", "/v1/data/Invoice/1"}, need: "write type"},
	"POST /v1/graphql":                              {paths: []string{"/v1/graphql"}, body: `{"query":"{ __typename }"}`, need: "any token"},
	"GET /v1/graphql":                               {paths: []string{"/v1/graphql?query=%7B__typename%7D"}, need: "any token"},
	"GET /v1/graphql/schema":                        {paths: []string{"/v1/graphql/schema"}, need: "read cluster"},
	"POST /v1/ingest/{connector}":                   {paths: []string{"/v1/ingest/web"}, body: `{"n":1}`, need: "ingest"},
	"GET /v1/queue":                                 {paths: []string{"/v1/queue"}, need: "read cluster"},
	"GET /v1/repair":                                {paths: []string{"/v1/repair?replicaset=rs1"}, need: "read every type"},
	"GET /v1/repair/{replicaset}/{position}":        {paths: []string{"/v1/repair/rs1/1"}, need: "read every type"},
	"PUT /v1/repair/{replicaset}/{position}":        {paths: []string{"/v1/repair/rs1/1"}, body: `{"n":1}`, need: "admin"},
	"POST /v1/repair/{replicaset}/{position}/retry": {paths: []string{"/v1/repair/rs1/1/retry"}, need: "admin"},
	"DELETE /v1/repair/{replicaset}/{position}":     {paths: []string{"/v1/repair/rs1/1"}, need: "admin"},
	"GET /v1/pipeline":                              {paths: []string{"/v1/pipeline"}, need: "read cluster"},
	"PUT /v1/pipeline":                              {paths: []string{"/v1/pipeline"}, body: "", need: "admin"},
	"POST /v1/tokens":                               {paths: []string{"/v1/tokens"}, body: `{"name":"made","role":"reader"}`, need: "admin"},
	"GET /v1/tokens":                                {paths: []string{"/v1/tokens"}, need: "admin"},
	"DELETE /v1/tokens/{id}":                        {paths: []string{"/v1/tokens/nobody"}, need: "admin"},
	"GET /v1/roles":                                 {paths: []string{"/v1/roles"}, need: "admin"},
	"GET /v1/roles/{name}":                          {paths: []string{"/v1/roles/orders"}, need: "admin"},
	"PUT /v1/roles/{name}":                          {paths: []string{"/v1/roles/matrix"}, body: `{"read":["Order"]}`, need: "admin"},
	"DELETE /v1/roles/{name}":                       {paths: []string{"/v1/roles/nothing"}, need: "admin"},
	"GET /healthz":                                  {paths: []string{"/healthz"}, need: "open"},
	"GET /readyz":                                   {paths: []string{"/readyz"}, need: "open"},
	"GET /metrics":                                  {paths: []string{"/metrics"}, need: "read cluster"},
}

// allowed says whether a role may call a route that needs need, at path.
// It is the rule auth.go implements, written out again by hand.
func allowed(role, need, path string) bool {
	order := strings.Contains(path, "/Order")
	if need == "any token" {
		return true
	}
	switch role {
	case cluster.RoleAdmin:
		return true
	case cluster.RoleWriter:
		return need != "admin"
	case cluster.RoleReader:
		return slices.Contains([]string{"read cluster", "read kv", "read type", "read every type"}, need)
	case customRole.Name:
		return need == "read type" && order || need == "write type" && !order
	case feedRole.Name:
		return need == "read kv" || need == "ingest"
	case monitorRole.Name:
		return need == "read cluster"
	}
	return false
}

// authCall sends one request straight to the handler.
func authCall(h http.Handler, method, path, body, secret string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestAuthMatrix calls every route NewAPI registers, by every kind of
// caller (no token; admin, writer, reader and two custom roles' tokens),
// with authentication on: 401 without a token, 403 when the role lacks
// the route's right, and otherwise whatever the handler answers (a 404
// or 400 of its own counts as let in). A route registered without a
// case here fails, as does a case no route has.
func TestAuthMatrix(t *testing.T) {
	registered := NewAPI(newFakeBackend(), APIOptions{Logger: quiet}).(*api).routes
	for _, pattern := range registered {
		if _, ok := authRoutes[pattern]; !ok {
			t.Errorf("route %s has no case in authRoutes (and no entry in routeNeeds, unless it has one): say what right it needs", pattern)
		}
		if _, ok := routeNeeds[pattern]; !ok {
			t.Errorf("route %s has no entry in routeNeeds: it is served to admin tokens only", pattern)
		}
	}
	for pattern := range authRoutes {
		if !slices.Contains(registered, pattern) {
			t.Errorf("authRoutes has a case for %s, which NewAPI does not register", pattern)
		}
	}
	for pattern := range routeNeeds {
		if !slices.Contains(registered, pattern) {
			t.Errorf("routeNeeds has an entry for %s, which NewAPI does not register", pattern)
		}
	}

	for _, role := range []string{"", cluster.RoleAdmin, cluster.RoleWriter, cluster.RoleReader, customRole.Name, feedRole.Name, monitorRole.Name} {
		name := role
		if role == "" {
			name = "no token"
		}
		t.Run(name, func(t *testing.T) {
			acc := newAccessState()
			acc.addToken(t, "root", cluster.RoleAdmin)
			for _, r := range []cluster.Role{customRole, feedRole, monitorRole} {
				if err := acc.SetRole(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			secret := ""
			if role != "" {
				secret = acc.addToken(t, "caller", role)
			}
			h := NewAPI(queuesWithAccess{newFakeQueues(), acc}, APIOptions{Logger: quiet})
			for _, pattern := range slices.Sorted(func(yield func(string) bool) {
				for p := range authRoutes {
					if !yield(p) {
						return
					}
				}
			}) {
				rc := authRoutes[pattern]
				method, _, _ := strings.Cut(pattern, " ")
				for _, path := range rc.paths {
					rec := authCall(h, method, path, rc.body, secret)
					var want string
					switch {
					case rc.need == "open":
						want = "in"
					case role == "":
						want = "401"
					case allowed(role, rc.need, path):
						want = "in"
					default:
						want = "403"
					}
					got := fmt.Sprint(rec.Code)
					if rec.Code != 401 && rec.Code != 403 {
						got = "in"
					}
					if got != want {
						t.Errorf("%s %s (%s): %d %s, want %s", method, path, rc.need, rec.Code, strings.TrimSpace(rec.Body.String()), want)
						continue
					}
					if want == "401" && rec.Header().Get("WWW-Authenticate") != `Bearer realm="shoal"` {
						t.Errorf("%s %s: 401 with WWW-Authenticate %q", method, path, rec.Header().Get("WWW-Authenticate"))
					}
					if want != "in" {
						var e ErrorBody
						if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
							t.Errorf("%s %s: %d with a body that is not the API's error: %q", method, path, rec.Code, rec.Body)
						}
					}
				}
			}
			// A path no route serves: 401 without a token, else 404.
			for _, path := range []string{"/v1/nothing", "/v1/kv/a//b", "/"} {
				rec := authCall(h, "GET", path, "", secret)
				if (rec.Code == 401) != (role == "") {
					t.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
				}
			}
		})
	}
}

// TestAuthTurnsOn walks a cluster from no token to tokens and back:
// authentication is off until the first token, which must be an
// admin's and is made without one; then every request needs a token,
// the admin makes the others, a revoked token stops working, and with
// the last token gone it is off again. With auth.required it is on from
// the start, and the first token is still made without one.
// made2 reads a 201 answer to POST /v1/tokens.
func made2(t *testing.T, a answer) NewTokenBody {
	t.Helper()
	var b NewTokenBody
	if a.status != 201 || json.Unmarshal([]byte(a.body), &b) != nil {
		t.Fatalf("got %d %s, want 201 with a token", a.status, a.body)
	}
	return b
}

func TestAuthTurnsOn(t *testing.T) {
	acc := newAccessState()
	f := newFakeQueues()
	srv := httptest.NewServer(NewAPI(queuesWithAccess{f, acc}, APIOptions{Logger: quiet}))
	defer srv.Close()
	send := func(method, path, secret, body string) answer {
		t.Helper()
		h := map[string]string{}
		if secret != "" {
			h["Authorization"] = "Bearer " + secret
		}
		if body != "" {
			h["Content-Type"] = "application/json"
		}
		return callWith(t, srv, method, path, h, body)
	}
	want := func(a answer, status int, contains string) {
		t.Helper()
		if a.status != status || !strings.Contains(a.body, contains) {
			t.Fatalf("got %d %s, want %d and %q", a.status, a.body, status, contains)
		}
	}
	made := func(a answer) NewTokenBody {
		t.Helper()
		want(a, 201, `"token":"`+TokenPrefix)
		var b NewTokenBody
		if err := json.Unmarshal([]byte(a.body), &b); err != nil {
			t.Fatal(err)
		}
		if a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("a new token's answer may be cached: %q", a.header.Get("Cache-Control"))
		}
		return b
	}

	want(send("PUT", "/v1/kv/k", "", `{"value":"v"}`), 200, `"index":1`)
	want(send("POST", "/v1/tokens", "", `{"name":"ci","role":"writer"}`), 422, "the first token must have the role admin, not writer")
	want(send("POST", "/v1/tokens", "", `{"name":"bad name","role":"admin"}`), 400, `token name \"bad name\"`)
	want(send("POST", "/v1/tokens", "", `{"name":"x"}`), 400, `\"role\" is required`)
	root := made(send("POST", "/v1/tokens", "", `{"name":"root","role":"admin"}`))
	if root.Name != "root" || root.Role != "admin" || len(root.ID) != 16 || root.Created.IsZero() {
		t.Fatalf("the first token: %+v", root)
	}

	a := send("GET", "/v1/kv/k", "", "")
	want(a, 401, "send Authorization: Bearer TOKEN")
	if a.header.Get("WWW-Authenticate") != `Bearer realm="shoal"` {
		t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
	}
	want(send("POST", "/v1/tokens", "", `{"name":"second","role":"admin"}`), 401, "send Authorization")
	want(send("GET", "/v1/kv/k", root.Token, ""), 200, `"value":"v"`)
	a = send("GET", "/v1/kv/k", root.Token+"x", "")
	want(a, 401, "not one of this cluster's API tokens")
	if a.header.Get("WWW-Authenticate") != `Bearer realm="shoal", error="invalid_token"` {
		t.Errorf("WWW-Authenticate for an unknown token %q", a.header.Get("WWW-Authenticate"))
	}

	reader := made(send("POST", "/v1/tokens", root.Token, `{"name":"ro","role":"reader"}`))
	want(send("PUT", "/v1/kv/k", reader.Token, `{"value":"w"}`), 403, "token ro has the role reader, which may not write kv")
	want(send("GET", "/v1/kv/k", reader.Token, ""), 200, `"value":"v"`)
	want(send("POST", "/v1/tokens", reader.Token, `{"name":"x","role":"admin"}`), 403, "may not administer the cluster")

	// A token the operator supplies: taken as it is, if long enough.
	want(send("POST", "/v1/tokens", root.Token, `{"name":"short","role":"reader","token":"abc"}`), 400, "at least 32 bytes (it has 3)")
	want(send("POST", "/v1/tokens", root.Token, `{"name":"odd","role":"reader","token":"`+strings.Repeat("é", 20)+`"}`), 400, "must be a bearer token")
	want(send("POST", "/v1/tokens", root.Token, `{"name":"num","role":"reader","token":12}`), 400, `\"token\" must be a string`)
	own := strings.Repeat("0123456789abcdef", 3)
	if got := made2(t, send("POST", "/v1/tokens", root.Token, `{"name":"own","role":"reader","token":"`+own+`"}`)); got.Token != own {
		t.Fatalf("a supplied token came back as %q", got.Token)
	}
	want(send("GET", "/v1/kv/k", own, ""), 200, `"value":"v"`)
	want(send("DELETE", "/v1/tokens/own", root.Token, ""), 200, `"name":"own"`)
	want(send("GET", "/v1/kv/k", own, ""), 401, "not one of this cluster's API tokens")
	if a := send("POST", "/v1/tokens", root.Token, `{"name":"short2","role":"reader","token":"abc"}`); strings.Contains(a.body, `abc"`) {
		t.Errorf("a refused supplied token is quoted back: %s", a.body)
	}

	list := send("GET", "/v1/tokens", root.Token, "")
	want(list, 200, `"name":"ro","role":"reader"`)
	if strings.Contains(list.body, "sha256") || strings.Contains(list.body, root.Token) || strings.Contains(list.body, cluster.TokenDigest(root.Token)) {
		t.Errorf("GET /v1/tokens shows a secret or a digest: %s", list.body)
	}

	want(send("PUT", "/v1/roles/orders", root.Token, `{"read":["Order"],"write":"Invoice"}`), 400, `\"write\" must be an array of strings, got a string`)
	want(send("PUT", "/v1/roles/orders", root.Token, `{"read":["Order"],"write":["cluster"]}`), 400, "cluster can only be read")
	want(send("PUT", "/v1/roles/orders", root.Token, `{"read":["Order"],"write":["Invoice"]}`), 200, `"read":["Order"],"write":["Invoice"]`)
	want(send("GET", "/v1/roles/orders", root.Token, ""), 200, `"name":"orders"`)
	want(send("GET", "/v1/roles/admin", root.Token, ""), 200, `"admin":true,"builtin":true`)
	want(send("GET", "/v1/roles/ghost", root.Token, ""), 404, `no role named \"ghost\"`)
	want(send("GET", "/v1/roles", root.Token, ""), 200, `{"name":"orders","read":["Order"],"write":["Invoice"]}`)
	billing := made(send("POST", "/v1/tokens", root.Token, `{"name":"billing","role":"orders"}`))
	want(send("DELETE", "/v1/roles/orders", root.Token, ""), 422, "role orders is the role of 1 tokens (billing)")
	want(send("DELETE", "/v1/roles/reader", root.Token, ""), 422, "built in")
	want(send("PUT", "/v1/data/Order", billing.Token, `{}`), 403, "token billing has the role orders, which may not write type Order")

	want(send("DELETE", "/v1/tokens/root", root.Token, ""), 422, "root is the last admin token")
	want(send("DELETE", "/v1/tokens/ghost", root.Token, ""), 404, `no token has the id or name \"ghost\"`)
	want(send("DELETE", "/v1/tokens/"+reader.ID, root.Token, ""), 200, `"revoked":{"id":"`+reader.ID+`","name":"ro"`)
	want(send("GET", "/v1/kv/k", reader.Token, ""), 401, "revoked")
	want(send("DELETE", "/v1/tokens/billing", root.Token, ""), 200, `"name":"billing"`)
	want(send("DELETE", "/v1/roles/orders", root.Token, ""), 200, `{"deleted":"orders"}`)
	want(send("DELETE", "/v1/tokens/root", root.Token, ""), 200, `"name":"root"`)
	want(send("GET", "/v1/kv/k", "", ""), 200, `"value":"v"`)

	// auth.required: on with no token; the first is made without one.
	if err := acc.apply(cluster.SetSetting(cluster.AuthRequired, "true")); err != nil {
		t.Fatal(err)
	}
	want(send("GET", "/v1/kv/k", "", ""), 401, "send Authorization")
	want(send("GET", "/healthz", "", ""), 200, "ok")
	want(send("POST", "/v1/tokens", "", `{"name":"ro","role":"reader"}`), 422, "locked")
	root = made(send("POST", "/v1/tokens", "", `{"name":"root","role":"admin"}`))
	want(send("GET", "/v1/kv/k", root.Token, ""), 200, `"value":"v"`)

	// An instance that does not know the tokens yet serves nothing but
	// its health.
	acc.mu.Lock()
	acc.unknown = true
	acc.mu.Unlock()
	want(send("GET", "/v1/kv/k", root.Token, ""), 503, "cannot check tokens")
	want(send("GET", "/readyz", "", ""), 200, "ready")
}

// TestAuthIngest: with authentication on, a connector that declares
// token_sha256 takes its own tokens and API tokens whose role may
// ingest; one that declares none takes API tokens only.
func TestAuthIngest(t *testing.T) {
	const order = `{"kind":"order","order_no":"o1"}`
	acc := newAccessState()
	root := acc.addToken(t, "root", cluster.RoleAdmin)
	writer := acc.addToken(t, "ci", cluster.RoleWriter)
	reader := acc.addToken(t, "ro", cluster.RoleReader)
	f := newFakeQueues()
	f.pipeline = PipelineStatus{Revision: 7, Source: tokenPipeline()}
	h := NewAPI(queuesWithAccess{f, acc}, APIOptions{Logger: quiet})
	for i, tc := range []struct {
		name, connector, auth string
		status                int
		want                  string
	}{
		{"crm, its own token", "crm", "Bearer " + token1, 202, `"replicaset":"rs1"`},
		{"crm, a writer's API token", "crm", "Bearer " + writer, 202, `"replicaset":"rs1"`},
		{"crm, the admin's API token", "crm", "Bearer " + root, 202, `"replicaset":"rs1"`},
		{"crm, a reader's API token", "crm", "Bearer " + reader, 403, "token ro has the role reader, which may not write ingest"},
		{"crm, a token nobody knows", "crm", "Bearer " + token3, 403, "connector crm does not take this token"},
		{"crm, no token", "crm", "", 401, "this cluster takes only requests with an API token"},
		{"crm, not a bearer token", "crm", "Basic eDp5", 401, "want Bearer TOKEN"},
		{"shop, a writer's API token", "shop", "Bearer " + writer, 202, `"replicaset":"rs1"`},
		{"shop, crm's token", "shop", "Bearer " + token1, 401, "connector shop declares no tokens of its own"},
		{"shop, no token", "shop", "", 401, "send Authorization"},
		{"an undeclared connector, a writer's API token", "web", "Bearer " + writer, 404, `no inbound connector \"web\"`},
		{"an undeclared connector, a token nobody knows", "web", "Bearer " + token3, 401, "not one of this cluster's API tokens"},
	} {
		req := httptest.NewRequest("POST", "/v1/ingest/"+tc.connector, strings.NewReader(order))
		req.Header.Set(HeaderMessageID, fmt.Sprintf("m%d", i))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want %d and %q", tc.name, rec.Code, rec.Body, tc.status, tc.want)
		}
		if rec.Code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer realm=") {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
}

// FuzzAuthorization sends any Authorization header to a cluster with
// tokens, and to one without: the API never panics, and answers a
// request it did not let in with 401 or 403 and the API's error body.
func FuzzAuthorization(f *testing.F) {
	acc := newAccessState()
	secret := acc.addToken(f, "root", cluster.RoleAdmin)
	reader := acc.addToken(f, "ro", cluster.RoleReader)
	on := NewAPI(queuesWithAccess{newFakeQueues(), acc}, APIOptions{Logger: quiet})
	off := NewAPI(queuesWithAccess{newFakeQueues(), newAccessState()}, APIOptions{Logger: quiet})
	for _, s := range []string{"Bearer " + secret, "Bearer " + reader, "bearer  " + secret, "Bearer", "Basic x", "", "Bearer a b", "Bearer " + strings.Repeat("=", 2000), "Bearer \x00"} {
		f.Add(s, "/v1/kv/k")
		f.Add(s, "/v1/data/Order/1")
	}
	f.Fuzz(func(t *testing.T, header, path string) {
		if token, present, why := bearerToken(&http.Request{Header: http.Header{"Authorization": {header}}}); !present || (why == "") != ValidToken(token) {
			t.Fatalf("bearerToken(%q) = %q, %v, %q", header, token, present, why)
		}
		req, err := http.NewRequest("GET", "http://shoal"+path, nil)
		if err != nil || req.URL.Path == "" {
			return
		}
		req.Header["Authorization"] = []string{header}
		for _, h := range []http.Handler{on, off} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code == 401 || rec.Code == 403 {
				var e ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || strings.Contains(e.Error, secret) {
					t.Fatalf("%d %q", rec.Code, rec.Body)
				}
			}
			if h == off && (rec.Code == 401 || rec.Code == 403) {
				t.Fatalf("authentication off, and %d %s", rec.Code, rec.Body)
			}
		}
	})
}

// TestNodeAccess runs three instances: a token made through one counts
// there at once and on the others once they applied it; group 0 refuses
// what its state machine refuses; and an instance that restarts knows
// the tokens again once it has applied its configuration, not before.
func TestNodeAccess(t *testing.T) {
	root := t.TempDir()
	nodes := startCluster(t, root, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range nodes {
		eventually(t, func() bool {
			acc, ok := n.Access()
			return ok && !acc.On()
		}, string(n.cfg.Name)+" knows that a new cluster has no token")
	}
	tok := cluster.Token{ID: "00000000000000aa", Name: "root", Role: cluster.RoleAdmin, SHA256: cluster.TokenDigest("secret-root")}
	if err := nodes[1].CreateToken(ctx, cluster.Token{ID: "00000000000000ab", Name: "ci", Role: cluster.RoleWriter, SHA256: cluster.TokenDigest("x")}, true); !errors.Is(err, ErrAccessRefused) {
		t.Fatalf("a first token of role writer: %v, want refused", err)
	}
	if err := nodes[1].CreateToken(ctx, tok, true); err != nil {
		t.Fatal(err)
	}
	if acc, _ := nodes[1].Access(); !acc.On() {
		t.Fatal("the instance that made the first token does not know it at once")
	}
	for _, n := range nodes {
		eventually(t, func() bool {
			acc, ok := n.Access()
			if !ok {
				return false
			}
			_, found := acc.Authenticate("secret-root")
			return found
		}, string(n.cfg.Name)+" knows the token")
	}
	if err := nodes[2].SetRole(ctx, cluster.Role{Name: "orders", Read: []string{"Order"}}); err != nil {
		t.Fatal(err)
	}

	nodes[0].Close()
	again, err := Open(Config{Name: "n1", DataDir: filepath.Join(root, "n1"), PeerAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	if _, ok := again.Access(); ok {
		t.Fatal("a restarted instance claims to know the tokens before it applied its configuration")
	}
	again.cfg.Join = []string{nodes[1].PeerAddr(), nodes[2].PeerAddr()}
	if err := again.Form(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		acc, ok := again.Access()
		if !ok {
			return false
		}
		_, role := acc.Role("orders")
		return acc.On() && role
	}, "the restarted instance knows the token and the role")

	if err := nodes[2].RevokeToken(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		acc, ok := again.Access()
		return ok && !acc.On()
	}, "the revocation reaches the restarted instance")
}

// An instance that was down while the cluster's first token was made
// comes back with authentication on, never off: it trusts no access
// configuration before it has applied group 0 up to a read index the
// leader confirmed after its restart (the disk alone would give the
// configuration it had when it stopped). n1, which made the token, stays
// down, so the restarted n3 and n2 must elect a leader first: the window
// in which the disk's configuration could leak is long.
func TestRestartedInstanceCatchesUpBeforeAuth(t *testing.T) {
	root := t.TempDir()
	nodes := startCluster(t, root, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	eventually(t, func() bool {
		acc, ok := nodes[2].Access()
		return ok && !acc.On()
	}, "n3 knows that a new cluster has no token")
	nodes[2].Close()
	admin := cluster.Token{ID: "00000000000000aa", Name: "root", Role: cluster.RoleAdmin, SHA256: cluster.TokenDigest("secret-root")}
	if err := nodes[0].CreateToken(ctx, admin, true); err != nil {
		t.Fatal(err)
	}
	nodes[0].Close()
	again, err := Open(Config{Name: "n3", DataDir: filepath.Join(root, "n3"), PeerAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	again.cfg.Join = []string{nodes[1].PeerAddr()}
	formed := make(chan error, 1)
	go func() { formed <- again.Form(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		acc, ok := again.Access()
		if ok && !acc.On() {
			t.Fatal("the restarted n3 serves with authentication off, though the cluster made a token while it was down")
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted n3 never caught up with group 0")
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-formed; err != nil {
		t.Fatal(err)
	}
}
