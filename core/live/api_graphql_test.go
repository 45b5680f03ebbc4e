package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/graphql"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// postGraphQLTo sends a GraphQL request as POST /v1/graphql.
func postGraphQLTo(t *testing.T, srv *httptest.Server, header map[string]string, query string, vars map[string]any) answer {
	t.Helper()
	body, err := json.Marshal(GraphQLRequest{Query: query, Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	return callWith(t, srv, "POST", "/v1/graphql", header, string(body))
}

// shop is a fakeData holding the example's eleven Products (as products
// stores them), Customer c1 and its Order o1.
func shop(t testing.TB) *fakeData {
	t.Helper()
	f := newFakeData()
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	store := func(typ, js string) {
		ty, _ := m.Type(typ)
		obj, err := ty.Validate(ty.Latest(), []byte(js))
		if err != nil {
			t.Fatal(err)
		}
		route, err := ty.AffinityKey(obj)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := f.fakeModels.Do(context.Background(), kv.Request{Op: kv.OpPutObject, Key: route, Object: &kv.ObjectRequest{Type: typ, Value: []byte(js)}})
		if err != nil || resp.Status != kv.StatusOK {
			t.Fatalf("storing %s: %+v, %v", js, resp, err)
		}
	}
	categories := []string{"books", "tools", "toys"}
	colors := []string{"red", "blue"}
	for i := range 11 {
		store("Product", product(fmt.Sprintf("p%02d", i), categories[i%3], fmt.Sprintf("%d.50", i*3), 10-i, colors[i%2]))
	}
	store("Customer", customerV2)
	store("Order", orderV1)
	return f
}

func TestGraphQLSchema(t *testing.T) {
	f := newFakeData()
	h := NewAPI(f, APIOptions{Logger: quiet})
	srv := httptest.NewServer(h)
	defer srv.Close()
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	got := callWith(t, srv, "GET", "/v1/graphql/schema", nil, "")
	// callWith drops the last newline.
	if got.status != 200 || got.body != strings.TrimSuffix(graphql.SDL(m), "\n") || got.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("GET /v1/graphql/schema: %d %s, not the model's SDL:\n%.300s", got.status, got.header.Get("Content-Type"), got.body)
	}
	// Built once per model.
	first := h.(*api).schemas.schema
	callWith(t, srv, "GET", "/v1/graphql/schema", nil, "")
	if h.(*api).schemas.schema != first || first == nil {
		t.Error("the schema was built again for the same model")
	}

	none := httptest.NewServer(NewAPI(newFakeModels(), APIOptions{Logger: quiet}))
	defer none.Close()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/graphql/schema", ""},
		{"POST", "/v1/graphql", `{"query":"{ _sdl }"}`},
	} {
		got := callWith(t, none, c.method, c.path, nil, c.body)
		if want := `{"error":"the cluster has no data model yet: PUT /v1/model"}`; got.status != 404 || got.body != want {
			t.Errorf("%s %s without a model: %d %s, want 404 %s", c.method, c.path, got.status, got.body, want)
		}
	}
	kvOnly := httptest.NewServer(NewAPI(newFakeBackend(), APIOptions{Logger: quiet}))
	defer kvOnly.Close()
	if got := callWith(t, kvOnly, "GET", "/v1/graphql/schema", nil, ""); got.status != 501 {
		t.Errorf("GET /v1/graphql/schema of a node without models: %d %s, want 501", got.status, got.body)
	}
}

// TestGraphQL runs queries and mutations against the fake cluster, in
// order: each case sees what the ones before it wrote.
func TestGraphQL(t *testing.T) {
	f := shop(t)
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	for _, c := range []struct {
		name, query string
		vars        map[string]any
		setup       func()
		want        string
	}{
		{name: "a lookup", query: `{ Product(sku: "p03") { sku price stock category tags attributes _version _revision } }`,
			want: `{"data":{"Product":{"sku":"p03","price":"9.5","stock":7,"category":"books","tags":["t"],"attributes":{"color":"blue"},"_version":1,"_revision":4}}}`},
		{name: "a lookup of none", query: `{ Product(sku: "nope") { sku } }`, want: `{"data":{"Product":null}}`},
		{name: "a lookup with a variable", query: `query($k: String!) { Customer(id: $k) { first_name tier } }`, vars: map[string]any{"k": "c1"},
			want: `{"data":{"Customer":{"first_name":"Ada","tier":"basic"}}}`},
		{name: "a relation each way", query: `{ Customer(id: "c1") { orders { edges { node { id total customer { last_name } } } } } }`,
			want: `{"data":{"Customer":{"orders":{"edges":[{"node":{"id":"o1","total":"19.9","customer":{"last_name":"Lovelace"}}}]}}}}`},
		{name: "insert", query: `mutation { insertCustomer(object: {id: "c2", first_name: "Grace", last_name: "Hopper", created: "2024-01-01T00:00:00Z", tier: gold, newsletter: true}) { id tier _revision } }`,
			want: `{"data":{"insertCustomer":{"id":"c2","tier":"gold","_revision":21}}}`},
		{name: "insert of a key that exists", query: `mutation { insertCustomer(object: {id: "c2", first_name: "G", last_name: "H", created: "2024-01-01T00:00:00Z", tier: gold, newsletter: true}) { id } }`,
			want: `{"data":{"insertCustomer":null},"errors":[{"message":"Customer c2 already exists","path":["insertCustomer"],"locations":[{"line":1,"column":12}],"extensions":{"code":"conflict"}}]}`},
		{name: "update at a revision it no longer has", query: `mutation { updateCustomer(id: "c2", patch: {newsletter: false}, ifRevision: 3) { newsletter } }`,
			want: `{"data":{"updateCustomer":null},"errors":[{"message":"Customer c2 has revision 21, not 3","path":["updateCustomer"],"locations":[{"line":1,"column":12}],"extensions":{"code":"precondition_failed"}}]}`},
		{name: "update at its revision", query: `mutation { updateCustomer(id: "c2", patch: {newsletter: false, email: "g@h.org"}, ifRevision: 21) { newsletter email _revision } }`,
			want: `{"data":{"updateCustomer":{"newsletter":false,"email":"g@h.org","_revision":25}}}`},
		{name: "update raced at its revision", query: `mutation { updateCustomer(id: "c2", patch: {tier: basic}, ifRevision: 25) { tier } }`,
			setup: func() { f.beforePut = concurrentWriter(t, `"newsletter":false`, `"newsletter":true`) },
			want:  `{"data":{"updateCustomer":null},"errors":[{"message":"Customer c2 changed: it no longer has revision 25","path":["updateCustomer"],"locations":[{"line":1,"column":12}],"extensions":{"code":"precondition_failed"}}]}`},
		{name: "update raced, tried again", query: `mutation { updateCustomer(id: "c2", patch: {tier: basic}) { tier newsletter _revision } }`,
			setup: func() { f.beforePut = concurrentWriter(t, `"newsletter":true`, `"newsletter":false`) },
			want:  `{"data":{"updateCustomer":{"tier":"basic","newsletter":false,"_revision":33}}}`},
		{name: "history", query: `{ Customer(id: "c2") { _history { version revision object { newsletter tier } } } }`, setup: func() { f.beforePut = nil },
			want: `{"data":{"Customer":{"_history":[{"version":2,"revision":25,"object":{"newsletter":false,"tier":"gold"}},` +
				`{"version":2,"revision":27,"object":{"newsletter":true,"tier":"gold"}},{"version":2,"revision":30,"object":{"newsletter":false,"tier":"gold"}}]}}}`},
		{name: "delete at a revision it no longer has", query: `mutation { deleteProduct(sku: "p00", ifRevision: 99) { sku } }`,
			want: `{"data":{"deleteProduct":null},"errors":[{"message":"Product p00 has revision 1, not 99","path":["deleteProduct"],"locations":[{"line":1,"column":12}],"extensions":{"code":"precondition_failed"}}]}`},
		{name: "delete", query: `mutation { deleteProduct(sku: "p00", ifRevision: 1) { sku stock } }`,
			want: `{"data":{"deleteProduct":{"sku":"p00","stock":10}}}`},
		{name: "deleted", query: `{ Product(sku: "p00") { sku } Products(first: 2) { edges { node { sku } } } }`,
			want: `{"data":{"Product":null,"Products":{"edges":[{"node":{"sku":"p01"}},{"node":{"sku":"p02"}}]}}}`},
		{name: "delete of none", query: `mutation { deleteProduct(sku: "p00") { sku } }`, want: `{"data":{"deleteProduct":null}}`},
		{name: "a validation error", query: `{ Product(sku: "p01") { skuu } }`,
			want: `{"errors":[{"message":"Cannot query field \"skuu\" on type \"Product\". Did you mean \"sku\"?","locations":[{"line":1,"column":25}],"extensions":{"file":"query"}}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup()
			}
			got := postGraphQLTo(t, srv, nil, c.query, c.vars)
			if got.status != 200 || got.body != c.want || got.header.Get("Content-Type") != "application/json" {
				t.Errorf("%s\n got %d %s\nwant 200 %s", c.query, got.status, got.body, c.want)
			}
		})
	}
}

// concurrentWriter is a fakeData.beforePut that changes Customer c2
// once, replacing from by to in its stored JSON, as another client's
// write would.
func concurrentWriter(t *testing.T, from, to string) func(f *fakeData) {
	done := false
	return func(f *fakeData) {
		if done {
			return
		}
		done = true
		f.mu.Lock()
		rec := f.objects[[2]string{"Customer", model.EncodeKey("c2")}]
		f.mu.Unlock()
		value := strings.Replace(string(rec.Value), from, to, 1)
		resp, err := f.fakeModels.Do(context.Background(), kv.Request{Op: kv.OpPutObject, Key: "c2", Object: &kv.ObjectRequest{Type: "Customer", Value: []byte(value)}})
		if err != nil || resp.Status != kv.StatusOK {
			t.Errorf("the concurrent write: %+v %v", resp, err)
		}
	}
}

// TestGraphQLListing follows a filtered connection's cursors over both
// replicasets, and checks what each was asked: the same fan-out as the
// REST listing, with the type's latest version.
func TestGraphQLListing(t *testing.T) {
	for _, c := range []struct {
		name, where string
		first, scan int
		want        []string
		exact       bool // read through by_category's entries of one key
	}{
		{"every product, pages of four", ``, 4, 0, skus(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), false},
		{"an enum, pages of two", `where: {category: {eq: toys}}`, 2, 0, skus(2, 5, 8), true},
		{"an enum, pages of one, a small scan bound", `where: {category: {eq: toys}, stock: {le: 5}}`, 1, 1, skus(5, 8), true},
		{"a decimal and an or", `where: {price: {gt: "9"}, or: [{stock: {le: 2}}, {title: {prefix: "p1"}}]}`, 1, 0, skus(8, 9, 10), false},
		{"a small scan bound", `where: {stock: {lt: 3}}`, 2, 2, skus(8, 9, 10), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeData()
			f.scan = c.scan
			products(f, t)
			srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
			defer srv.Close()
			var all []string
			after := "null"
			for page := 0; ; page++ {
				if page > 20 {
					t.Fatal("the listing does not end")
				}
				q := fmt.Sprintf(`query($after: String) { Products(%s first: %d, after: $after) { edges { node { sku } } pageInfo { hasNextPage endCursor } } }`,
					c.where, c.first)
				var vars map[string]any
				if after != "null" {
					vars = map[string]any{"after": after}
				}
				got := postGraphQLTo(t, srv, nil, q, vars)
				var body struct {
					Data struct {
						Products struct {
							Edges []struct {
								Node struct{ SKU string }
							}
							PageInfo struct {
								HasNextPage bool
								EndCursor   *string
							}
						}
					}
					Errors []any
				}
				if err := json.Unmarshal([]byte(got.body), &body); err != nil || got.status != 200 || len(body.Errors) > 0 {
					t.Fatalf("%s: %d %s (%v)", q, got.status, got.body, err)
				}
				for _, e := range body.Data.Products.Edges {
					all = append(all, e.Node.SKU)
				}
				p := body.Data.Products.PageInfo
				if !p.HasNextPage {
					break
				}
				after = *p.EndCursor
			}
			if !slices.Equal(all, c.want) {
				t.Errorf("listed %q, want %q", all, c.want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			asked := map[string]int{}
			for _, req := range f.lists {
				l := req.List
				asked[l.Replicaset]++
				if req.Stale || l.Type != "Product" || l.Version != 1 || l.Limit < 1 || l.Exact != c.exact || c.exact && l.Index != "by_category" {
					t.Errorf("list-objects %+v (stale %v)", *l, req.Stale)
				}
			}
			if asked["rs1"] == 0 || asked["rs1"] != asked["rs2"] {
				t.Errorf("asked the replicasets %v, want both alike", asked)
			}
		})
	}
}

// TestGraphQLRelationReadsIndex: a one-to-many relation, whose filters
// fix Order's index by_customer, and a where that fixes it, ask every
// replicaset for that index's entries of the customer's key, and list
// what a scan would; a where that does not fix it reads the type.
func TestGraphQLRelationReadsIndex(t *testing.T) {
	f := shop(t)
	for _, id := range []string{"o2", "o3"} {
		f.store(t, "Order", strings.Replace(orderV1, `"id":"o1"`, `"id":"`+id+`"`, 1))
	}
	f.store(t, "Order", strings.Replace(strings.Replace(orderV1, `"id":"o1"`, `"id":"o9"`, 1), `"customer_id":"c1"`, `"customer_id":"c2"`, 1))
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	byCustomer := model.EncodeKey("c1")
	for _, c := range []struct {
		name, query, want string
		exact             bool
	}{
		{"a relation", `{ Customer(id: "c1") { orders(first: 2) { edges { node { id } } pageInfo { hasNextPage } } } }`,
			`{"data":{"Customer":{"orders":{"edges":[{"node":{"id":"o1"}},{"node":{"id":"o2"}}],"pageInfo":{"hasNextPage":true}}}}}`, true},
		{"a where eq", `{ Orders(where: {customer_id: {eq: "c1"}}, orderBy: {by: _key, direction: DESC}) { edges { node { id } } } }`,
			`{"data":{"Orders":{"edges":[{"node":{"id":"o3"}},{"node":{"id":"o2"}},{"node":{"id":"o1"}}]}}}`, true},
		{"a where in", `{ Orders(where: {customer_id: {in: ["c1"]}}) { edges { node { id } } } }`,
			`{"data":{"Orders":{"edges":[{"node":{"id":"o1"}},{"node":{"id":"o2"}},{"node":{"id":"o3"}}]}}}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.mu.Lock()
			f.lists = nil
			f.mu.Unlock()
			if got := postGraphQLTo(t, srv, nil, c.query, nil); got.status != 200 || got.body != c.want {
				t.Fatalf("%d %s\nwant %s", got.status, got.body, c.want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.lists) != 2 {
				t.Fatalf("%d list-objects, want one to each replicaset", len(f.lists))
			}
			for _, req := range f.lists {
				l := req.List
				if got := l.Exact && l.Index == "by_customer" && l.Key == byCustomer; got != c.exact || !c.exact && (l.Exact || l.Index != "") {
					t.Errorf("list-objects of %s by %q, exact %v %q; want exact %v", l.Type, l.Index, l.Exact, l.Key, c.exact)
				}
			}
		})
	}
}

// TestGraphQLRequests pins the answers to requests that are not right:
// malformed bodies and parameters (400 in the API's format), limits,
// GET.
func TestGraphQLRequests(t *testing.T) {
	f := shop(t)
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet, MaxBody: 4096, GraphQL: graphql.Limits{MaxDepth: 4, MaxCost: 30}}))
	defer srv.Close()
	big := `{"query":"` + strings.Repeat(" ", 4096) + `"}`
	for _, c := range []struct {
		name, method, path, ctype, body string
		status                          int
		want                            string
	}{
		{name: "empty", body: "", status: 400, want: `{"error":"request body: empty: want a JSON object such as {\"query\": \"{ ... }\"}"}`},
		{name: "no object", body: `["{ x }"]`, status: 400, want: `{"error":"request body: line 1, column 1: want a JSON object, got an array"}`},
		{name: "no JSON", body: `{"query": }`, status: 400, want: `{"error":"request body: line 1, column 11: invalid character '}' looking for beginning of value"}`},
		{name: "no query", body: `{"variables": {}}`, status: 400, want: `{"error":"request body: \"query\" is required: {\"query\": \"{ ... }\"}"}`},
		{name: "a query not a string", body: `{"query": 1}`, status: 400, want: `{"error":"request body: line 1, column 11: \"query\" must be a string, got a number"}`},
		{name: "an unknown field", body: `{"query": "{ _sdl }", "qurey": 1}`, status: 400,
			want: `{"error":"request body: line 1, column 23: unknown field \"qurey\" (want \"extensions\" and \"operationName\" and \"query\" and \"variables\")"}`},
		{name: "a duplicate field", body: `{"query": "{ _sdl }", "query": "{ _sdl }"}`, status: 400, want: `{"error":"request body: line 1, column 23: duplicate field \"query\""}`},
		{name: "variables not an object", body: `{"query": "{ _sdl }", "variables": [1]}`, status: 400,
			want: `{"error":"request body: line 1, column 36: \"variables\" must be an object or null, got an array"}`},
		{name: "operationName not a string", body: `{"query": "{ _sdl }", "operationName": 1}`, status: 400,
			want: `{"error":"request body: line 1, column 40: \"operationName\" must be a string or null, got a number"}`},
		{name: "too large", body: big, status: 413, want: `{"error":"request body exceeds 4096 bytes"}`},
		{name: "another media type", ctype: "application/graphql", body: `{ _sdl }`, status: 415,
			want: `{"error":"Content-Type \"application/graphql\": want application/json"}`},
		{name: "nulls and extensions", body: `{"query": "{ Product(sku: \"p01\") { sku } }", "variables": null, "operationName": null, "extensions": {"x": 1}}`,
			status: 200, want: `{"data":{"Product":{"sku":"p01"}}}`},
		{name: "an Int64 variable keeps its digits", body: `{"query": "mutation($r: Int64) { updateProduct(sku: \"p01\", patch: {stock: 5}, ifRevision: $r) { stock } }", "variables": {"r": 9007199254740993}}`,
			status: 200, want: `{"data":{"updateProduct":null},"errors":[{"message":"Product p01 has revision 2, not 9007199254740993","path":["updateProduct"],"locations":[{"line":1,"column":23}],"extensions":{"code":"precondition_failed"}}]}`},
		{name: "over the cost", body: `{"query": "{ Products(first: 40) { edges { node { sku } } } }"}`, status: 200,
			want: `{"errors":[{"message":"the query costs more than 30, the limit (each field 1, a scan what it may read, times the first of every connection above it)","locations":[{"line":1,"column":25}],"extensions":{"file":"query"}}]}`},
		{name: "too deep", body: `{"query": "{ Customer(id: \"c1\") { orders(first: 1) { edges { node { customer { id } } } } } }"}`, status: 200,
			want: `{"errors":[{"message":"field customer is 5 deep, over the limit of 4","locations":[{"line":1,"column":58}],"extensions":{"file":"query"}}]}`},
		{name: "two operations", body: `{"query": "query A { _sdl } query B { _sdl }"}`, status: 200,
			want: `{"errors":[{"message":"the query has 2 operations: name one with operationName"}]}`},

		{name: "GET a query", method: "GET", path: "/v1/graphql?query=" + url.QueryEscape(`query($s: String!) { Product(sku: $s) { stock } }`) +
			"&variables=" + url.QueryEscape(`{"s": "p04"}`), status: 200, want: `{"data":{"Product":{"stock":6}}}`},
		{name: "GET a mutation", method: "GET", path: "/v1/graphql?query=" + url.QueryEscape(`mutation { deleteProduct(sku: "p01") { sku } }`), status: 405,
			want: `{"error":"GET /v1/graphql: the operation is a mutation, which needs POST (a GET only queries)"}`},
		{name: "GET a named mutation", method: "GET", path: "/v1/graphql?operationName=M&query=" + url.QueryEscape(`query Q { _sdl } mutation M { deleteProduct(sku: "p01") { sku } }`),
			status: 405, want: `{"error":"GET /v1/graphql: the operation is a mutation, which needs POST (a GET only queries)"}`},
		{name: "GET without a query", method: "GET", path: "/v1/graphql", status: 400, want: `{"error":"query: required, such as ?query={Customer(id:\"c1\"){id}}"}`},
		{name: "GET with an unknown parameter", method: "GET", path: "/v1/graphql?query=x&vars=1", status: 400,
			want: `{"error":"parameter \"vars\": unknown (want query, variables and operationName)"}`},
		{name: "GET a query twice", method: "GET", path: "/v1/graphql?query=x&query=y", status: 400, want: `{"error":"query: given 2 times, want once"}`},
		{name: "GET variables not an object", method: "GET", path: "/v1/graphql?query=x&variables=%5B%5D", status: 400,
			want: `{"error":"variables: want a JSON object, got an array"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			method, path := c.method, c.path
			if method == "" {
				method, path = "POST", "/v1/graphql"
			}
			header := map[string]string{}
			if c.ctype != "" {
				header["Content-Type"] = c.ctype
			}
			got := callWith(t, srv, method, path, header, c.body)
			if got.status != c.status || got.body != c.want {
				t.Errorf("%s %s %s\n got %d %s\nwant %d %s", method, path, c.body, got.status, got.body, c.status, c.want)
			}
			if c.status == 405 && got.header.Get("Allow") != "POST" {
				t.Errorf("405 with Allow %q, want POST", got.header.Get("Allow"))
			}
		})
	}
	if _, ok := f.objects[[2]string{"Product", model.EncodeKey("p01")}]; !ok {
		t.Error("a GET deleted p01")
	}
}

// dataWithAccess serves the data endpoints with authentication.
type dataWithAccess struct {
	*fakeData
	*accessState
}

// TestGraphQLRights: a token's role decides per type what a query may
// read and write; the route takes any token, and none is 401.
func TestGraphQLRights(t *testing.T) {
	acc := newAccessState()
	acc.addToken(t, "root", cluster.RoleAdmin)
	if err := acc.SetRole(context.Background(), cluster.Role{Name: "catalog", Read: []string{"Product"}, Write: []string{"Order"}}); err != nil {
		t.Fatal(err)
	}
	catalog := map[string]string{"Authorization": "Bearer " + acc.addToken(t, "cat", "catalog")}
	reader := map[string]string{"Authorization": "Bearer " + acc.addToken(t, "read", cluster.RoleReader)}
	srv := httptest.NewServer(NewAPI(dataWithAccess{shop(t), acc}, APIOptions{Logger: quiet}))
	defer srv.Close()
	for _, c := range []struct {
		name   string
		header map[string]string
		query  string
		status int
		want   string
	}{
		{"a type it reads and one it does not", catalog, `{ Product(sku: "p01") { sku } Customer(id: "c1") { id } }`, 200,
			`{"data":{"Product":{"sku":"p01"},"Customer":null},"errors":[{"message":"not allowed to read Customer","path":["Customer"],"locations":[{"line":1,"column":31}],"extensions":{"code":"forbidden"}}]}`},
		// A connection is non-null: its error nulls the data.
		{"a listing of a type it does not read", catalog, `{ Products(first: 1) { edges { node { sku } } } Orders(first: 1) { edges { node { id } } } }`, 200,
			`{"data":null,"errors":[{"message":"not allowed to read Order","path":["Orders"],"locations":[{"line":1,"column":49}],"extensions":{"code":"forbidden"}}]}`},
		{"a write it may not", catalog, `mutation { deleteProduct(sku: "p01") { sku } }`, 200,
			`{"data":{"deleteProduct":null},"errors":[{"message":"not allowed to write Product","path":["deleteProduct"],"locations":[{"line":1,"column":12}],"extensions":{"code":"forbidden"}}]}`},
		{"a write it may, and a read back it may not", catalog, `mutation { deleteOrder(customer_id: "c1", id: "o1") { id } }`, 200,
			`{"data":{"deleteOrder":null},"errors":[{"message":"not allowed to read Order.id","path":["deleteOrder","id"],"locations":[{"line":1,"column":55}],"extensions":{"code":"forbidden"}}]}`},
		{"the reader reads every type", reader, `{ Customer(id: "c1") { id orders { edges { node { id } } } } }`, 200,
			`{"data":{"Customer":{"id":"c1","orders":{"edges":[]}}}}`},
		{"the reader writes nothing", reader, `mutation { deleteCustomer(id: "c1") { id } }`, 200,
			`{"data":{"deleteCustomer":null},"errors":[{"message":"not allowed to write Customer","path":["deleteCustomer"],"locations":[{"line":1,"column":12}],"extensions":{"code":"forbidden"}}]}`},
		// _sdl needs what GET /v1/graphql/schema needs: read of the cluster.
		{"the schema without read of the cluster", catalog, `{ _sdl }`, 200,
			`{"data":null,"errors":[{"message":"not allowed to read the schema","path":["_sdl"],"locations":[{"line":1,"column":3}],"extensions":{"code":"forbidden"}}]}`},
		{"no token", nil, `{ _sdl }`, 401, `{"error":"this cluster takes only requests with an API token: send Authorization: Bearer TOKEN"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := postGraphQLTo(t, srv, c.header, c.query, nil)
			if got.status != c.status || got.body != c.want {
				t.Errorf("%s\n got %d %s\nwant %d %s", c.query, got.status, got.body, c.status, c.want)
			}
		})
	}
	// The schema needs read of the cluster, which catalog lacks.
	if got := callWith(t, srv, "GET", "/v1/graphql/schema", catalog, ""); got.status != 403 {
		t.Errorf("GET /v1/graphql/schema as catalog: %d %s, want 403", got.status, got.body)
	}
	if got := callWith(t, srv, "GET", "/v1/graphql/schema", reader, ""); got.status != 200 {
		t.Errorf("GET /v1/graphql/schema as reader: %d %s, want 200", got.status, got.body)
	}
	if got := postGraphQLTo(t, srv, reader, `{ _sdl }`, nil); got.status != 200 || !strings.HasPrefix(got.body, `{"data":{"_sdl":"`) {
		t.Errorf("_sdl as reader: %d %.100s", got.status, got.body)
	}
}

// TestGraphQLTimeout: the request's timeout bounds the executor's own
// work, not only its Data calls.
func TestGraphQLTimeout(t *testing.T) {
	srv := httptest.NewServer(NewAPI(shop(t), APIOptions{Logger: quiet, Timeout: time.Nanosecond}))
	defer srv.Close()
	got := postGraphQLTo(t, srv, nil, `{ _sdl }`, nil)
	if want := `{"errors":[{"message":"the request ran out of time"}]}`; got.status != 200 || got.body != want {
		t.Errorf("got %d %s\nwant 200 %s", got.status, got.body, want)
	}
}

// TestGraphQLNewerVersion: an object at a version of its type this
// node's model does not know yet is refused in a listing, as in a
// lookup.
func TestGraphQLNewerVersion(t *testing.T) {
	f := shop(t)
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	k := [2]string{"Product", model.EncodeKey("p01")}
	f.mu.Lock()
	rec := f.objects[k]
	rec.Version = 7
	f.objects[k] = rec
	f.mu.Unlock()
	const msg = "unavailable, nothing was done: Product p01 is at version 7 of its type, which this node's model (versions 1 to 1) does not know yet"
	for _, c := range []struct{ query, want string }{
		{`{ Product(sku: "p01") { sku } }`, `{"data":{"Product":null},"errors":[{"message":"reading Product p01: ` + msg + `","path":["Product"],"locations":[{"line":1,"column":3}]}]}`},
		{`{ Products(first: 3) { edges { node { sku } } } }`, `{"data":null,"errors":[{"message":"listing Product: ` + msg + `","path":["Products"],"locations":[{"line":1,"column":3}]}]}`},
	} {
		if got := postGraphQLTo(t, srv, nil, c.query, nil); got.status != 200 || got.body != c.want {
			t.Errorf("%s\n got %d %s\nwant 200 %s", c.query, got.status, got.body, c.want)
		}
	}
}

// TestGraphQLBackendErrors: the backend's failures are errors at the
// field, in the words the REST endpoints use.
func TestGraphQLBackendErrors(t *testing.T) {
	f := shop(t)
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	f.err = fmt.Errorf("%w: no leader is known", ErrUnavailable)
	got := postGraphQLTo(t, srv, nil, `{ Product(sku: "p01") { sku } Products { edges { cursor } } }`, nil)
	// Products is non-null: its error nulls the data.
	want := `{"data":null,"errors":[{"message":"reading Product p01: unavailable, nothing was done: no leader is known","path":["Product"],"locations":[{"line":1,"column":3}],"extensions":{"code":"unavailable"}},` +
		`{"message":"listing Product: unavailable, nothing was done: no leader is known","path":["Products"],"locations":[{"line":1,"column":31}],"extensions":{"code":"unavailable"}}]}`
	if got.status != 200 || got.body != want {
		t.Errorf("got %d %s\nwant 200 %s", got.status, got.body, want)
	}
}

// FuzzGraphQLBody: whatever the body, POST /v1/graphql answers 2xx or
// 4xx with a JSON object, and never panics.
func FuzzGraphQLBody(f *testing.F) {
	for _, s := range []string{
		`{"query": "{ Product(sku: \"p01\") { sku price } }"}`,
		`{"query": "query($s: String!) { Product(sku: $s) { sku } }", "variables": {"s": "p02"}}`,
		`{"query": "{ Products(where: {price: {gt: \"3\"}}, first: 2) { edges { node { sku } } pageInfo { endCursor } } }"}`,
		`{"query": "{ Products(after: \"x\") { edges { cursor } } }"}`,
		`{"query": "mutation { insertProduct(object: {sku: \"n\", title: \"t\", price: \"1\", weight_kg: 1, stock: 1, category: toys, tags: [], attributes: {}}) { sku } }"}`,
		`{"query": "mutation { updateProduct(sku: \"p01\", patch: {stock: 5}, ifRevision: \"2\") { stock } }"}`,
		`{"query": "mutation { deleteProduct(sku: \"p03\") { sku _history { revision } } }"}`,
		`{"query": "{ Customer(id: \"c1\") { orders(first: 1000) { edges { node { customer { orders { edges { node { id } } } } } } } } }"}`,
		`{"query": "{ __schema { types { name } } }"}`, `{"query": "subscription { x }"}`, `{"query": "{"}`,
		`{"query": "{ _sdl }", "operationName": "X"}`, `{"query": 1}`, `{"query": null}`, `{}`, `[]`, ``, `null`, "\xff",
		`{"query": "{ _sdl }", "variables": {"a": 1e999}}`, `{"query": "query($a: Int64) { _sdl }", "variables": {"a": "99999999999999999999"}}`,
	} {
		f.Add([]byte(s))
	}
	fd := shop(f)
	h := NewAPI(fd, APIOptions{Logger: quiet, MaxBody: 16 << 10, GraphQL: graphql.Limits{MaxCalls: 50}})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := serveDirect(h, "POST", &url.URL{Path: "/v1/graphql"}, "application/json", body)
		checkAnswer(t, fmt.Sprintf("POST /v1/graphql %q", body), rec)
	})
}

// TestGraphQLDamagedCursor: an after whose binding matches the
// connection but whose position is no position of its order fails the
// field as the client's error about after (the REST listing's 400),
// before any replicaset is asked, and logs no error.
func TestGraphQLDamagedCursor(t *testing.T) {
	f := shop(t)
	var log bytes.Buffer
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: slog.New(slog.NewTextHandler(&log, nil))}))
	q := `query($after: String) { Products(orderBy: {by: by_category}, first: 1, after: $after) { edges { node { sku } } pageInfo { endCursor } } }`
	first := postGraphQLTo(t, srv, nil, q, nil)
	var body struct {
		Data struct {
			Products struct{ PageInfo struct{ EndCursor string } }
		}
	}
	if err := json.Unmarshal([]byte(first.body), &body); err != nil || body.Data.Products.PageInfo.EndCursor == "" {
		t.Fatalf("a first page: %s (%v)", first.body, err)
	}
	f.mu.Lock()
	asked := len(f.lists)
	f.mu.Unlock()
	for _, pos := range []string{"\x09p01", "\x01books", "\x01books\x00\x01\x05p01"} {
		got := postGraphQLTo(t, srv, nil, q, map[string]any{"after": forge(t, body.Data.Products.PageInfo.EndCursor, pos)})
		var resp struct {
			Data   any
			Errors []struct {
				Message    string
				Path       []string
				Extensions struct{ Code string }
			}
		}
		if err := json.Unmarshal([]byte(got.body), &resp); err != nil || got.status != 200 || len(resp.Errors) != 1 {
			t.Fatalf("a cursor at %q: %d %s (%v)", pos, got.status, got.body, err)
		}
		e := resp.Errors[0]
		want := "listing Product: after: a damaged cursor: it holds no position in the order by_category (pass a cursor as the listing gave it)"
		if e.Message != want || e.Extensions.Code != ErrorCode(400) || !slices.Equal(e.Path, []string{"Products"}) {
			t.Errorf("a cursor at %q: %s\nwant the message %q, code %s at Products", pos, got.body, want, ErrorCode(400))
		}
	}
	srv.Close() // waits for the handlers, and their logs
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.lists) != asked {
		t.Errorf("%d list-objects sent for damaged cursors", len(f.lists)-asked)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("damaged cursors logged errors:\n%s", log.String())
	}
}
