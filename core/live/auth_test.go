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
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
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

// customRole reads Order and writes Invoice, nothing else; fieldRole
// reads one field of Order and writes one of Invoice; feedRole reads
// keys and hands messages in, nothing else; monitorRole reads the
// cluster's state, which is no data.
var (
	customRole  = cluster.Role{Name: "orders", Read: []string{"Order"}, Write: []string{"Invoice"}}
	fieldRole   = cluster.Role{Name: "order-status", Read: []string{"Order.status"}, Write: []string{"Invoice.note"}}
	feedRole    = cluster.Role{Name: "feeds", Read: []string{"kv"}, Write: []string{"ingest"}}
	monitorRole = cluster.Role{Name: "monitor", Read: []string{"cluster"}}
)

// routeCase is how TestAuthMatrix calls one route: a path for it (one
// per type for a route of a data type), a body, and the right it must
// need, named as a person would say it.
type routeCase struct {
	paths []string
	body  string
	// need: open, admin, read cluster, read kv, write kv, read fields (of
	// the type: some at least), write fields, write type (every field),
	// read every type, ingest, any token.
	need string
}

// authRoutes are the routes NewAPI registers, each with its case.
var authRoutes = map[string]routeCase{
	"PUT /v1/kv/{key}":                              {paths: []string{"/v1/kv/k"}, body: `{"value":"v"}`, need: "write kv"},
	"GET /v1/kv/{key}":                              {paths: []string{"/v1/kv/k"}, need: "read kv"},
	"DELETE /v1/kv/{key}":                           {paths: []string{"/v1/kv/k"}, need: "write kv"},
	"POST /v1/kv/{key}/cas":                         {paths: []string{"/v1/kv/k/cas"}, body: `{"expected":null,"value":"v"}`, need: "write kv"},
	"GET /v1/cluster":                               {paths: []string{"/v1/cluster"}, need: "read cluster"},
	"POST /v1/cluster/instances/{name}/expel":       {paths: []string{"/v1/cluster/instances/n3/expel"}, need: "admin"},
	"GET /v1/cluster/rebalance":                     {paths: []string{"/v1/cluster/rebalance"}, need: "read cluster"},
	"POST /v1/cluster/rebalance/pause":              {paths: []string{"/v1/cluster/rebalance/pause"}, need: "admin"},
	"POST /v1/cluster/rebalance/resume":             {paths: []string{"/v1/cluster/rebalance/resume"}, need: "admin"},
	"POST /v1/cluster/rebalance/abort":              {paths: []string{"/v1/cluster/rebalance/abort"}, need: "admin"},
	"GET /v1/model":                                 {paths: []string{"/v1/model"}, need: "read cluster"},
	"PUT /v1/model":                                 {paths: []string{"/v1/model"}, body: "types: {}", need: "admin"},
	"GET /v1/model/versions":                        {paths: []string{"/v1/model/versions"}, need: "read cluster"},
	"DELETE /v1/model/pending":                      {paths: []string{"/v1/model/pending?revision=2"}, need: "admin"},
	"PUT /v1/data/{type}":                           {paths: []string{"/v1/data/Order", "/v1/data/Invoice"}, body: `{"id":"1"}`, need: "write type"},
	"GET /v1/data/{type}":                           {paths: []string{"/v1/data/Order", "/v1/data/Invoice"}, need: "read fields"},
	"PUT /v1/data/{type}/{key}":                     {paths: []string{"/v1/data/Order/1", "/v1/data/Invoice/1"}, body: `{"id":"1"}`, need: "write type"},
	"PATCH /v1/data/{type}/{key}":                   {paths: []string{"/v1/data/Order/1", "/v1/data/Invoice/1"}, body: `{}`, need: "write fields"},
	"GET /v1/data/{type}/{key}":                     {paths: []string{"/v1/data/Order/1", "/v1/data/Invoice/1"}, need: "read fields"},
	"GET /v1/data/{type}/{key}/history":             {paths: []string{"/v1/data/Order/1/history", "/v1/data/Invoice/1/history"}, need: "read fields"},
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
		return slices.Contains([]string{"read cluster", "read kv", "read fields", "read every type"}, need)
	case customRole.Name:
		return need == "read fields" && order || (need == "write type" || need == "write fields") && !order
	case fieldRole.Name:
		return need == "read fields" && order || need == "write fields" && !order
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
// caller (no token; admin, writer, reader and four custom roles' tokens),
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

	for _, role := range []string{"", cluster.RoleAdmin, cluster.RoleWriter, cluster.RoleReader, customRole.Name, fieldRole.Name, feedRole.Name, monitorRole.Name} {
		name := role
		if role == "" {
			name = "no token"
		}
		t.Run(name, func(t *testing.T) {
			acc := newAccessState()
			acc.addToken(t, "root", cluster.RoleAdmin)
			for _, r := range []cluster.Role{customRole, fieldRole, feedRole, monitorRole} {
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

// TestFieldRights: a role that reads some fields of a type reads its
// objects (one, a listing, a history) with those fields and the key
// only, and may not filter or order by the others; a role that writes
// some fields may patch those only, and may not put or delete; GraphQL
// takes the same rights.
func TestFieldRights(t *testing.T) {
	acc := newAccessState()
	acc.addToken(t, "root", cluster.RoleAdmin)
	for _, r := range []cluster.Role{
		{Name: "names", Read: []string{"Customer.first_name", "Customer.tier", "Order", "-Order.total"}, Write: []string{"Customer.tier"}},
		{Name: "blind", Read: []string{"Customer.first_name"}, Write: []string{"Customer.newsletter"}},
		{Name: "writeonly", Read: []string{"Order"}, Write: []string{"Customer.newsletter"}},
	} {
		if err := acc.SetRole(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	bearer := func(name, role string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + acc.addToken(t, name, role), "Content-Type": "application/json"}
	}
	names, blind, writeonly := bearer("crm", "names"), bearer("support", "blind"), bearer("feed", "writeonly")
	f := shop(t)
	srv := httptest.NewServer(NewAPI(dataWithAccess{f, acc}, APIOptions{Logger: quiet}))
	defer srv.Close()
	object := func(a answer) string {
		t.Helper()
		var b struct {
			Object json.RawMessage `json:"object"`
			Items  []struct {
				Object json.RawMessage `json:"object"`
			} `json:"items"`
			History []struct {
				Object json.RawMessage `json:"object"`
			} `json:"history"`
		}
		if err := json.Unmarshal([]byte(a.body), &b); err != nil {
			t.Fatalf("%d %s: %v", a.status, a.body, err)
		}
		out := string(b.Object)
		for _, it := range b.Items {
			out += string(it.Object)
		}
		for _, h := range b.History {
			out += string(h.Object)
		}
		return out
	}
	for _, c := range []struct {
		name         string
		header       map[string]string
		method, path string
		body         string
		status       int
		want         string // the objects answered, or the error's text
	}{
		{"an object", names, "GET", "/v1/data/Customer/c1", "", 200, `{"first_name":"Ada","id":"c1","tier":"basic"}`},
		{"a listing", names, "GET", "/v1/data/Customer", "", 200, `{"first_name":"Ada","id":"c1","tier":"basic"}`},
		{"a listing filtered on a field it reads", names, "GET", "/v1/data/Customer?tier=basic", "", 200, `{"first_name":"Ada","id":"c1","tier":"basic"}`},
		{"a listing filtered on a field it does not read", names, "GET", "/v1/data/Customer?email[prefix]=ada", "", 403,
			"filter email[prefix]: token crm (role names) may not read Customer.email, so it may not filter on it"},
		{"a listing filtered on a key field", names, "GET", "/v1/data/Order?customer_id=c1&status=open", "", 200, `"status":"open"`},
		{"a listing filtered on a field withheld", names, "GET", "/v1/data/Order?total[gt]=1", "", 403, "may not read Order.total"},
		{"a listing ordered by an index of a type it reads in part", names, "GET", "/v1/data/Order?order=by_status", "", 403,
			"order=by_status: ordering by an index takes read of every field of Order, which token crm (role names) lacks"},
		{"a listing ordered by the key", names, "GET", "/v1/data/Order?order=-_key", "", 200, `"status":"open"`},
		{"an object with a field withheld", names, "GET", "/v1/data/Order/c1,o1", "", 200, `"status":"open"`},
		{"a history", names, "GET", "/v1/data/Customer/c1/history", "", 200, `{"first_name":"Ada","id":"c1","tier":"basic"}`},
		{"a put", names, "PUT", "/v1/data/Customer/c1", customerV2, 403, "token crm has the role names, which may not write type Customer"},
		{"a delete", names, "DELETE", "/v1/data/Customer/c1", "", 403, "may not write type Customer"},
		{"a patch of a field it does not write", names, "PATCH", "/v1/data/Customer/c1", `{"tier":"gold","email":"x@y.z"}`, 403,
			"patch: token crm (role names) may not write Customer.email"},
		{"a patch of a field it writes", names, "PATCH", "/v1/data/Customer/c1", `{"tier":"gold"}`, 200, `{"first_name":"Ada","id":"c1","tier":"gold"}`},
		{"a patch of a type it writes no field of", names, "PATCH", "/v1/data/Order/c1,o1", `{"note":"x"}`, 403,
			"token crm has the role names, which may not write type Order, nor any field of it"},
		{"a patch by a role that reads nothing of the type", writeonly, "PATCH", "/v1/data/Customer/c1", `{"newsletter":true}`, 200, ``},
		{"a read by a role that reads nothing of the type", writeonly, "GET", "/v1/data/Customer/c1", "", 403,
			"token feed has the role writeonly, which may not read type Customer, nor any field of it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := callWith(t, srv, c.method, c.path, c.header, c.body)
			text := got.body
			if got.status == 200 {
				text = object(got)
			}
			if got.status != c.status || !strings.Contains(text, c.want) || c.want == "" && text != "" {
				t.Errorf("%s %s: %d %s, want %d and %s", c.method, c.path, got.status, got.body, c.status, c.want)
			}
			for _, hidden := range []string{"email", "last_name", "newsletter", "created", "total", "ada@example.com"} {
				if got.status == 200 && strings.Contains(text, `"`+hidden+`"`) {
					t.Errorf("%s %s answers %s: %s", c.method, c.path, hidden, got.body)
				}
			}
		})
	}

	// A patch that changes nothing is written when the caller may not
	// read what it names: the revision must not tell that the value was
	// the patch's already.
	revision := func() uint64 {
		return f.objects[[2]string{"Customer", enc("c1")}].Revision
	}
	for _, c := range []struct {
		header  map[string]string
		patch   string
		written bool
	}{
		{names, `{"tier":"gold"}`, false},     // it reads tier: gold already, nothing written
		{blind, `{"newsletter":true}`, true},  // true already, written
		{blind, `{"newsletter":false}`, true}, // a change, written
	} {
		before := revision()
		got := callWith(t, srv, "PATCH", "/v1/data/Customer/c1", c.header, c.patch)
		if got.status != 200 || (revision() != before) != c.written {
			t.Errorf("PATCH %s: %d %s, revision %d to %d; want written %v", c.patch, got.status, got.body, before, revision(), c.written)
		}
	}

	for _, c := range []struct{ name, query, want string }{
		{"fields it reads and one it does not", `{ Customer(id: "c1") { id first_name email } }`,
			`{"data":{"Customer":{"id":"c1","first_name":"Ada","email":null}},"errors":[{"message":"not allowed to read Customer.email","path":["Customer","email"],"locations":[{"line":1,"column":38}],"extensions":{"code":"forbidden"}}]}`},
		{"a filter on a field it does not read", `{ Customers(where: {last_name: {eq: "Lovelace"}}) { edges { node { id } } } }`,
			`{"data":null,"errors":[{"message":"where: last_name: not allowed to read Customer.last_name, so not to filter on it","path":["Customers"],"locations":[{"line":1,"column":3}],"extensions":{"code":"forbidden"}}]}`},
		{"an order by an index of a field it does not read", `{ Customers(orderBy: {by: by_email}) { edges { node { id } } } }`,
			`{"data":null,"errors":[{"message":"orderBy: ordering by index by_email takes read of every field of Customer, which the caller lacks (order by _key instead)","path":["Customers"],"locations":[{"line":1,"column":3}],"extensions":{"code":"forbidden"}}]}`},
		{"an order by an index of fields it reads", `{ Orders(orderBy: {by: by_status}) { edges { node { id } } } }`,
			`{"data":null,"errors":[{"message":"orderBy: ordering by index by_status takes read of every field of Order, which the caller lacks (order by _key instead)","path":["Orders"],"locations":[{"line":1,"column":3}],"extensions":{"code":"forbidden"}}]}`},
		{"an update of a field it writes", `mutation { updateCustomer(id: "c1", patch: {tier: basic}) { id tier } }`,
			`{"data":{"updateCustomer":{"id":"c1","tier":"basic"}}}`},
		{"an update of a field it does not write", `mutation { updateCustomer(id: "c1", patch: {tier: gold, last_name: "X"}) { id } }`,
			`{"data":{"updateCustomer":null},"errors":[{"message":"patch: not allowed to write Customer.last_name","path":["updateCustomer"],"locations":[{"line":1,"column":12}],"extensions":{"code":"forbidden"}}]}`},
		{"a delete", `mutation { deleteCustomer(id: "c1") { id } }`,
			`{"data":{"deleteCustomer":null},"errors":[{"message":"not allowed to write Customer","path":["deleteCustomer"],"locations":[{"line":1,"column":12}],"extensions":{"code":"forbidden"}}]}`},
	} {
		t.Run("graphql "+c.name, func(t *testing.T) {
			if got := postGraphQLTo(t, srv, names, c.query, nil); got.status != 200 || got.body != c.want {
				t.Errorf("%s\n got %d %s\nwant 200 %s", c.query, got.status, got.body, c.want)
			}
		})
	}
}

// TestFieldAccessTrim: an object of an older version than its type's
// latest keeps only the key and the latest fields the role reads: a
// field since renamed or split (Customer's name, split into first_name
// and last_name) is no field any right names, and could hold what the
// role withholds.
func TestFieldAccessTrim(t *testing.T) {
	ty := exampleType(t, "Customer")
	role := cluster.Role{Name: "no-surname", Read: []string{"Customer", "-Customer.last_name"}}
	fa := fieldAccess{t: ty, fields: role.Fields(false, "Customer")}
	got, err := fa.trim([]byte(customerV1))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"created":"2024-01-02T03:04:05+01:00","email":"ada@example.com","id":"c1"}`; string(got) != want {
		t.Errorf("trim(%s) = %s, want %s", customerV1, got, want)
	}
	if got, err := (fieldAccess{t: ty, all: true}).trim([]byte(customerV1)); err != nil || string(got) != customerV1 {
		t.Errorf("trim with every field: %s, %v", got, err)
	}
	if _, err := fa.trim([]byte(`[1]`)); err == nil {
		t.Error("trim of an array: no error")
	}
}

// rawGets answers a get-object with the record as stored, not upgraded,
// as a node whose model lags the API's may.
type rawGets struct{ dataWithAccess }

func (b rawGets) Do(ctx context.Context, req kv.Request) (kv.Response, error) {
	resp, err := b.dataWithAccess.Do(ctx, req)
	if err == nil && req.Op == kv.OpGetObject && resp.Object != nil {
		b.fakeData.mu.Lock()
		rec := b.fakeData.objects[[2]string{req.Object.Type, req.Object.PK}]
		b.fakeData.mu.Unlock()
		resp.Object = &rec
	}
	return resp, err
}

// TestFieldRightsPatchOldVersion: a role that writes some fields of a
// type patches the latest version's fields of an object stored at an
// older one, and no other name: v1's name, which holds v2's last_name,
// is no field it may write.
func TestFieldRightsPatchOldVersion(t *testing.T) {
	acc := newAccessState()
	acc.addToken(t, "root", cluster.RoleAdmin)
	if err := acc.SetRole(context.Background(), cluster.Role{Name: "no-surname", Read: []string{"Customer"}, Write: []string{"Customer", "-Customer.last_name"}}); err != nil {
		t.Fatal(err)
	}
	header := map[string]string{"Authorization": "Bearer " + acc.addToken(t, "crm", "no-surname"), "Content-Type": "application/json"}
	f := shop(t)
	k := [2]string{"Customer", enc("c1")}
	f.objects[k] = kv.ObjectRecord{Type: "Customer", PK: enc("c1"), Version: 1, Revision: 50, Value: []byte(customerV1)}
	srv := httptest.NewServer(NewAPI(rawGets{dataWithAccess{f, acc}}, APIOptions{Logger: quiet}))
	defer srv.Close()
	for _, c := range []struct {
		patch  string
		status int
		want   string
	}{
		{`{"name":"Ada Byron"}`, 403, "patch: Customer has no field name in its latest version (2), the only one token crm (role no-surname) writes fields of"},
		{`{"last_name":"Byron"}`, 403, "patch: token crm (role no-surname) may not write Customer.last_name"},
		{`{"id":"c1"}`, 403, "patch: id is a key field of Customer, which a patch does not change"},
		{`{}`, 403, "patch: a patch that names no field takes write of the whole type Customer"},
		{`{"newsletter":true}`, 200, `"last_name":"Lovelace","newsletter":true`},
	} {
		got := callWith(t, srv, "PATCH", "/v1/data/Customer/c1", header, c.patch)
		if got.status != c.status || !strings.Contains(got.body, c.want) {
			t.Errorf("PATCH %s: %d %s, want %d and %s", c.patch, got.status, got.body, c.status, c.want)
		}
	}
	rec := f.objects[k]
	obj, err := model.Decode(rec.Value)
	if err != nil || rec.Version != 2 || obj["last_name"] != "Lovelace" || obj["newsletter"] != true {
		t.Errorf("stored: version %d %s (%v), want version 2 with last_name Lovelace and newsletter true", rec.Version, rec.Value, err)
	}
}

// TestFieldRightsUniqueConflict: a write refused for a unique index's
// key names the object that holds it only to a caller that reads every
// field of the type; the others, which may write a field they may not
// read, learn that the value is taken and nothing more.
func TestFieldRightsUniqueConflict(t *testing.T) {
	acc := newAccessState()
	root := map[string]string{"Authorization": "Bearer " + acc.addToken(t, "root", cluster.RoleAdmin), "Content-Type": "application/json"}
	if err := acc.SetRole(context.Background(), cluster.Role{Name: "mailer", Read: []string{"Customer.first_name"}, Write: []string{"Customer"}}); err != nil {
		t.Fatal(err)
	}
	mailer := map[string]string{"Authorization": "Bearer " + acc.addToken(t, "mail", "mailer"), "Content-Type": "application/json"}
	f := shop(t)
	const holder = "holder-c2"
	srv := httptest.NewServer(NewAPI(dataWithAccess{f, acc}, APIOptions{Logger: quiet}))
	defer srv.Close()
	hidden := "a unique index of Customer holds that value already"
	for _, c := range []struct {
		name         string
		header       map[string]string
		method, path string
		body         string
		want         string
	}{
		{"put", mailer, "PUT", "/v1/data/Customer/c1", customerV2, hidden},
		{"patch", mailer, "PATCH", "/v1/data/Customer/c1", `{"email":"bob@x.org"}`, hidden},
		{"graphql", mailer, "POST", "/v1/graphql", `{"query":"mutation { updateCustomer(id: \"c1\", patch: {email: \"bob@x.org\"}) { id } }"}`, hidden},
		{"put by a caller that reads every field", root, "PUT", "/v1/data/Customer/c1", customerV2, holder},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.beforePut = func(f *fakeData) {
				f.objStatus, f.objError = kv.StatusConflict, fmt.Sprintf("unique index by_email: key held by %q", holder)
			}
			defer func() { f.beforePut, f.objStatus, f.objError = nil, 0, "" }()
			got := callWith(t, srv, c.method, c.path, c.header, c.body)
			status := 409
			if c.method == "POST" {
				status = 200
			}
			if got.status != status || !strings.Contains(got.body, c.want) || c.want == hidden && strings.Contains(got.body, holder) {
				t.Errorf("%s %s: %d %s, want %d and %s", c.method, c.path, got.status, got.body, status, c.want)
			}
		})
	}
}

// TestRoleRightsFields: GraphQL's rights read a type's latest fields and
// relations as the role grants them, _version, _revision and _history
// always, and no other name: a field of an older version, or one the
// type never had, is no field a right names.
func TestRoleRightsFields(t *testing.T) {
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	rr := roleRights{role: cluster.Role{Name: "r", Read: []string{"Customer", "-Customer.email"}}, known: true, m: m}
	for field, want := range map[string]bool{ //detlint:unordered each case on its own
		"id": true, "first_name": true, "orders": true, "_version": true, "_revision": true, "_history": true,
		"email": false, "name": false, "nope": false, "": false,
	} {
		if got := rr.CanReadField("Customer", field); got != want {
			t.Errorf("CanReadField(Customer, %q) = %v, want %v", field, got, want)
		}
	}
	if rr.CanReadField("Nope", "id") {
		t.Error("CanReadField of a type the model lacks")
	}
}
