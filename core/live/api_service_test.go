package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/graphql"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/service"
)

// The service routes' cases in TestAuthMatrix: any token is let in, as
// for GraphQL.
func init() {
	authRoutes["GET /v1/services"] = routeCase{paths: []string{"/v1/services"}, need: "any token"}
	authRoutes["POST /v1/services/{name}"] = routeCase{paths: []string{"/v1/services/nope"}, body: `{}`, need: "any token"}
	authRoutes["GET /v1/services/{name}"] = routeCase{paths: []string{"/v1/services/nope"}, need: "any token"}
}

// shopServices are the services of these tests, over the example model.
var shopServices = []service.Service{
	{Name: "customerSummary", Doc: "A customer's order count and total.", Returns: "JSON", Reads: []string{"Customer", "Order"},
		Args: []service.Arg{{Name: "id", Type: "String!"}},
		Func: func(c *service.Context, args map[string]any) (any, error) {
			id := args["id"].(string)
			if _, found, err := c.Get("Customer", map[string]any{"id": id}); err != nil || !found {
				if err == nil {
					err = service.Errorf(http.StatusNotFound, "customer %s does not exist", id)
				}
				return nil, err
			}
			fs, err := c.Filters("Order", url.Values{"customer_id": {id}}.Encode())
			if err != nil {
				return nil, err
			}
			page, err := c.List("Order", fs, "", 100)
			if err != nil {
				return nil, err
			}
			return map[string]any{"orders": len(page.Items), "more": page.More}, nil
		}},
	{Name: "orders", Returns: "[Order!]!", Reads: []string{"Order"},
		Args: []service.Arg{{Name: "customer", Type: "String!"}, {Name: "status", Type: "Order_status"}, {Name: "first", Type: "Int", Default: "10"}},
		Func: func(c *service.Context, args map[string]any) (any, error) {
			q := url.Values{"customer_id": {args["customer"].(string)}}
			if s, ok := args["status"].(string); ok {
				q.Set("status", s)
			}
			fs, err := c.Filters("Order", q.Encode())
			if err != nil {
				return nil, err
			}
			page, err := c.List("Order", fs, "", args["first"].(int))
			return page.Items, err
		}},
	{Name: "cancelOrder", Mutation: true, Returns: "Order!", Reads: []string{"Order"}, Writes: []string{"Order"},
		Args: []service.Arg{{Name: "customer_id", Type: "String!"}, {Name: "id", Type: "String!"}, {Name: "ifRevision", Type: "Int64"}},
		Func: func(c *service.Context, args map[string]any) (any, error) {
			st, found, err := c.Get("Order", map[string]any{"customer_id": args["customer_id"], "id": args["id"]})
			if err != nil {
				return nil, err
			}
			if !found {
				return nil, service.Errorf(http.StatusNotFound, "order %s does not exist", args["id"])
			}
			if st.Object["status"] == "cancelled" {
				return nil, service.Errorf(http.StatusUnprocessableEntity, "order %s is cancelled already", args["id"])
			}
			rev := st.Revision
			if r, ok := args["ifRevision"].(int64); ok {
				rev = r
			}
			st.Object["status"] = "cancelled"
			return c.Put("Order", st.Object, graphql.Condition{IfRevision: rev})
		}},
	{Name: "broken", Returns: "Int", Func: func(*service.Context, map[string]any) (any, error) { return nil, errors.New("a bug") }},
	{Name: "invoices", Returns: "[Invoice!]!", Func: func(*service.Context, map[string]any) (any, error) { return nil, nil }},
	{Name: "panics", Returns: "Int", Func: func(*service.Context, map[string]any) (any, error) { panic("index out of range [3]") }},
	// customer answers c1 as it is stored, without reading it: a type
	// the service does not declare.
	{Name: "customer", Returns: "Customer!", Func: func(*service.Context, map[string]any) (any, error) {
		return graphql.Stored{Object: map[string]any{"id": "c1", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org",
			"created": "2024-01-02T03:04:05Z", "tier": "gold", "newsletter": true}}, nil
	}},
}

// TestServices calls the services through REST and GraphQL, in order:
// each case sees what the ones before it wrote.
func TestServices(t *testing.T) {
	f := shop(t)
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet, Services: shopServices}))
	defer srv.Close()
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"a query", "POST", "/v1/services/customerSummary", `{"id": "c1"}`, 200, `{"result":{"more":false,"orders":1}}`},
		{"a query by GET", "GET", "/v1/services/customerSummary?id=c1", "", 200, `{"result":{"more":false,"orders":1}}`},
		{"the service's status", "POST", "/v1/services/customerSummary", `{"id": "c9"}`, 404, `{"error":"service customerSummary: customer c9 does not exist"}`},
		{"objects", "GET", "/v1/services/orders?customer=c1&status=open&first=5", "", 200,
			`{"result":[{"type":"Order","key":"c1,o1","version":1,"revision":13,"object":` + orderStored + `}]}`},
		{"none", "POST", "/v1/services/orders", `{"customer": "c1", "status": "paid"}`, 200, `{"result":[]}`},
		{"an explicit null takes the default", "POST", "/v1/services/orders", `{"customer": "c1", "first": null}`, 200,
			`{"result":[{"type":"Order","key":"c1,o1","version":1,"revision":13,"object":` + orderStored + `}]}`},
		{"a null by GET", "GET", "/v1/services/orders?customer=c1&first=null", "", 200,
			`{"result":[{"type":"Order","key":"c1,o1","version":1,"revision":13,"object":` + orderStored + `}]}`},
		{"a page out of bounds", "POST", "/v1/services/orders", `{"customer": "c1", "first": 0}`, 400, `{"error":"service orders: listing Order: limit 0, want 1 to 1000"}`},
		{"a filter made of an argument", "POST", "/v1/services/orders", `{"customer": "c1&status=paid"}`, 200, `{"result":[]}`},
		{"a mutation at a revision gone", "POST", "/v1/services/cancelOrder", `{"customer_id": "c1", "id": "o1", "ifRevision": 3}`, 412,
			`{"error":"service cancelOrder: writing Order c1,o1: the condition of the write does not hold"}`},
		{"a mutation", "POST", "/v1/services/cancelOrder", `{"customer_id": "c1", "id": "o1", "ifRevision": "13"}`, 200,
			`{"result":{"type":"Order","key":"c1,o1","version":1,"revision":34,"object":` + strings.Replace(orderStored, `"open"`, `"cancelled"`, 1) + `}}`},
		{"a mutation refused", "POST", "/v1/services/cancelOrder", `{"customer_id": "c1", "id": "o1"}`, 422, `{"error":"service cancelOrder: order o1 is cancelled already"}`},
		{"a mutation by GET", "GET", "/v1/services/cancelOrder?customer_id=c1&id=o1", "", 405, `{"error":"GET /v1/services/cancelOrder: the service is a mutation, which needs POST (a GET only queries)"}`},
		{"a missing argument", "POST", "/v1/services/orders", `{}`, 400, `{"error":"service orders: argument customer: must be defined"}`},
		{"an empty body", "POST", "/v1/services/orders", ``, 400, `{"error":"service orders: argument customer: must be defined"}`},
		{"an unknown argument", "POST", "/v1/services/orders", `{"customer": "c1", "state": "open"}`, 400, `{"error":"request body: line 1, column 20: unknown field \"state\" (want \"customer\" and \"first\" and \"status\")"}`},
		{"a duplicate argument", "POST", "/v1/services/orders", `{"customer": "c1", "customer": "c2"}`, 400, `{"error":"request body: line 1, column 20: duplicate field \"customer\""}`},
		{"an argument of another type", "POST", "/v1/services/orders", `{"customer": "c1", "first": "ten"}`, 400, `{"error":"service orders: argument first: cannot use string as Int"}`},
		{"an enum argument not of its values", "GET", "/v1/services/orders?customer=c1&status=lost", "", 400, `{"error":"service orders: argument status: lost is not a valid Order_status"}`},
		{"an argument not JSON in a GET", "GET", "/v1/services/orders?customer=c1&first=ten", "", 400, `{"error":"argument first: \"ten\" is not JSON, as a value of its type is written here (?first=10, ?tags=[\"a\"])"}`},
		{"an unknown parameter", "GET", "/v1/services/orders?customer=c1&x=1", "", 400, `{"error":"parameter \"x\": service orders has no such argument"}`},
		{"not an object", "POST", "/v1/services/orders", `["c1"]`, 400, `{"error":"request body: line 1, column 1: want a JSON object, got an array"}`},
		{"no arguments taken", "POST", "/v1/services/broken", `{"a": 1}`, 400, `{"error":"request body: line 1, column 2: unknown field \"a\": service broken takes no arguments"}`},
		{"a service's bug", "POST", "/v1/services/broken", ``, 500, `{"error":"service broken failed: a bug"}`},
		{"a service's panic", "POST", "/v1/services/panics", ``, 500, `{"error":"service panics failed"}`},
		{"no such service", "POST", "/v1/services/nope", `{}`, 404, `{"error":"service \"nope\": no such service (GET /v1/services lists them)"}`},
		{"a service the model cannot serve", "POST", "/v1/services/invoices", `{}`, 501, `{"error":"service invoices: the model in force cannot serve it: returns [Invoice!]!: the schema of the model has no type Invoice"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := callWith(t, srv, c.method, c.path, nil, c.body)
			if got.status != c.status || got.body != c.want {
				t.Errorf("%s %s %s\n got %d %s\nwant %d %s", c.method, c.path, c.body, got.status, got.body, c.status, c.want)
			}
		})
	}
	// The same services are GraphQL fields.
	got := postGraphQLTo(t, srv, nil, `{ customerSummary(id: "c1") orders(customer: "c1") { id status customer { first_name } } }`, nil)
	if want := `{"data":{"customerSummary":{"more":false,"orders":1},"orders":[{"id":"o1","status":"cancelled","customer":{"first_name":"Ada"}}]}}`; got.status != 200 || got.body != want {
		t.Errorf("GraphQL: %d %s\nwant %s", got.status, got.body, want)
	}
}

// orderStored is orderV1 as stored: keys sorted, defaults filled.
const orderStored = `{"customer_id":"c1","id":"o1","lines":[{"quantity":2,"sku":"p1","unit_price":"9.95"}],"note":null,"placed":"2024-01-02T03:04:05Z",` +
	`"shipping_address":{"city":"Delft","country":"NL","street":"Main 1","zip":"2611AA"},"status":"open","total":"19.9"}`

// TestListServices: every service of the binary, and why the model in
// force cannot serve some.
func TestListServices(t *testing.T) {
	// The first five, and a second of a name, which is dropped.
	services := append(slices.Clone(shopServices[:5]), service.Service{Name: "orders", Returns: "Int", Func: shopServices[3].Func})
	srv := httptest.NewServer(NewAPI(shop(t), APIOptions{Logger: quiet, Services: services}))
	defer srv.Close()
	got := callWith(t, srv, "GET", "/v1/services", nil, "")
	var body ServicesBody
	if err := json.Unmarshal([]byte(got.body), &body); err != nil || got.status != 200 {
		t.Fatalf("%d %s: %v", got.status, got.body, err)
	}
	var lines []string
	for _, s := range body.Services {
		lines = append(lines, fmt.Sprintf("%s %s %d %s %v %v %q", s.Name, s.Kind, len(s.Args), s.Returns, s.Reads, s.Writes, s.Unavailable))
	}
	want := []string{
		`broken query 0 Int [] [] ""`,
		`cancelOrder mutation 3 Order! [Order] [Order] ""`,
		`customerSummary query 1 JSON [Customer Order] [] ""`,
		`invoices query 0 [Invoice!]! [] [] "returns [Invoice!]!: the schema of the model has no type Invoice"`,
		`orders query 3 [Order!]! [Order] [] ""`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("GET /v1/services:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if a := body.Services[4].Args[2]; a != (ServiceArgBody{Name: "first", Type: "Int", Default: "10"}) || body.Services[2].Doc != "A customer's order count and total." {
		t.Errorf("orders' first: %+v, doc %q", a, body.Services[2].Doc)
	}

	// Without a model, none is served, and the list says why.
	none := httptest.NewServer(NewAPI(newFakeModels(), APIOptions{Logger: quiet, Services: shopServices[:1]}))
	defer none.Close()
	got = callWith(t, none, "GET", "/v1/services", nil, "")
	if want := `{"services":[{"name":"customerSummary","doc":"A customer's order count and total.","kind":"query","args":[{"name":"id","type":"String!"}],"returns":"JSON","reads":["Customer","Order"],"unavailable":"the cluster has no data model yet: PUT /v1/model"}]}`; got.status != 200 || got.body != want {
		t.Errorf("without a model: %d %s\nwant %s", got.status, got.body, want)
	}
	// No service registered in this test binary: the list is empty.
	plain := httptest.NewServer(NewAPI(shop(t), APIOptions{Logger: quiet}))
	defer plain.Close()
	if got := callWith(t, plain, "GET", "/v1/services", nil, ""); got.status != 200 || got.body != `{"services":[]}` {
		t.Errorf("no services: %d %s", got.status, got.body)
	}
}

// TestServiceRights: with authentication on, a caller needs read of the
// whole of the types a service reads and write of those it writes; the
// objects it answers are trimmed as the data API trims them.
func TestServiceRights(t *testing.T) {
	acc := newAccessState()
	acc.addToken(t, "root", cluster.RoleAdmin)
	for _, r := range []cluster.Role{
		{Name: "orders", Read: []string{"Order"}, Write: []string{"Order"}},
		// Some fields of Customer, and all but one: neither reads it
		// whole.
		{Name: "names", Read: []string{"Customer.id", "Customer.first_name", "Order"}},
		{Name: "noEmail", Read: []string{"Customer", "-Customer.email", "Order"}},
	} {
		if err := acc.SetRole(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	orders := map[string]string{"Authorization": "Bearer " + acc.addToken(t, "ord", "orders")}
	names := map[string]string{"Authorization": "Bearer " + acc.addToken(t, "nam", "names")}
	noEmail := map[string]string{"Authorization": "Bearer " + acc.addToken(t, "noe", "noEmail")}
	reader := map[string]string{"Authorization": "Bearer " + acc.addToken(t, "read", cluster.RoleReader)}
	srv := httptest.NewServer(NewAPI(dataWithAccess{shop(t), acc}, APIOptions{Logger: quiet, Services: shopServices}))
	defer srv.Close()
	customer := `"key":"c1","version":2,"object":`
	for _, c := range []struct {
		name, path, body string
		header           map[string]string
		status           int
		want             string
	}{
		{"a type it does not read", "/v1/services/customerSummary", `{"id": "c1"}`, orders, 403, `{"error":"service customerSummary: not allowed to read the whole of Customer (every field), which service customerSummary reads"}`},
		{"some fields of a type it reads", "/v1/services/customerSummary", `{"id": "c1"}`, names, 403, `{"error":"service customerSummary: not allowed to read the whole of Customer (every field), which service customerSummary reads"}`},
		{"a field withheld of a type it reads", "/v1/services/customerSummary", `{"id": "c1"}`, noEmail, 403, `{"error":"service customerSummary: not allowed to read the whole of Customer (every field), which service customerSummary reads"}`},
		{"a type it does not write", "/v1/services/cancelOrder", `{"customer_id": "c1", "id": "o1"}`, reader, 403, `{"error":"service cancelOrder: not allowed to write Order, which service cancelOrder writes"}`},
		{"what it reads", "/v1/services/customerSummary", `{"id": "c1"}`, reader, 200, `{"result":{"more":false,"orders":1}}`},
		{"what it writes", "/v1/services/cancelOrder", `{"customer_id": "c1", "id": "o1"}`, orders, 200,
			`{"result":{"type":"Order","key":"c1,o1","version":1,"revision":18,"object":` + strings.Replace(orderStored, `"open"`, `"cancelled"`, 1) + `}}`},
		{"an object read whole", "/v1/services/customer", ``, reader, 200,
			`{"result":{"type":"Customer",` + customer + `{"created":"2024-01-02T03:04:05Z","email":"ada@example.org","first_name":"Ada","id":"c1","last_name":"Lovelace","newsletter":true,"tier":"gold"}}}`},
		{"an object read in part", "/v1/services/customer", ``, names, 200, `{"result":{"type":"Customer",` + customer + `{"first_name":"Ada","id":"c1"}}}`},
		{"an object but a field", "/v1/services/customer", ``, noEmail, 200,
			`{"result":{"type":"Customer",` + customer + `{"created":"2024-01-02T03:04:05Z","first_name":"Ada","id":"c1","last_name":"Lovelace","newsletter":true,"tier":"gold"}}}`},
		{"an object of a type it reads nothing of", "/v1/services/customer", ``, orders, 403, `{"error":"service customer: not allowed to read Customer"}`},
		{"no token", "/v1/services/customerSummary", `{"id": "c1"}`, nil, 401, `{"error":"this cluster takes only requests with an API token: send Authorization: Bearer TOKEN"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := callWith(t, srv, "POST", c.path, c.header, c.body)
			if got.status != c.status || got.body != c.want {
				t.Errorf("%s %s\n got %d %s\nwant %d %s", c.path, c.body, got.status, got.body, c.status, c.want)
			}
		})
	}
}

// FuzzServiceBody: no body of a POST /v1/services/{name}, nor query of
// a GET, makes it panic or answer 5xx, and every error is the API's,
// naming what is wrong.
func FuzzServiceBody(f *testing.F) {
	for _, b := range []string{`{"customer": "c1", "status": "open", "first": 2}`, `{"customer_id": "c1", "id": "o1", "ifRevision": "13"}`,
		`{"id": "c1"}`, `{"customer": ["c1"]}`, `{"first": 1e99}`, ``, `{`, `{"id": "c1"} x`,
		`{"customer":"c1","first":null}`, `{"first":0}`, `{"customer":"c1","first":0}`, `{"customer":"c1&first=0"}`,
		`customer=c1&first=null`, `customer=c1&first=0`, `id=c1`} {
		f.Add("orders", b)
		f.Add("cancelOrder", b)
		f.Add("customerSummary", b)
	}
	h := NewAPI(shop(f), APIOptions{Logger: quiet, Services: shopServices[:3]})
	f.Fuzz(func(t *testing.T, name, body string) {
		if name != "orders" && name != "cancelOrder" && name != "customerSummary" {
			return
		}
		post := httptest.NewRequest("POST", "/v1/services/"+name, strings.NewReader(body))
		get := httptest.NewRequest("GET", "/v1/services/"+name, nil)
		get.URL.RawQuery = body
		for _, req := range []*http.Request{post, get} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", req.Method, name, body, rec.Code, rec.Body)
			}
			if rec.Code != 200 {
				var e ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || e.Code == "" {
					t.Fatalf("%s %s %q: %d with a body that is not the API's error: %s", req.Method, name, body, rec.Code, rec.Body)
				}
			}
		}
	})
}

// failingObjects is the shop whose object requests of one op fail with
// err, as the backend fails them.
type failingObjects struct {
	*fakeData
	op  kv.Op
	err error
}

func (f failingObjects) Do(ctx context.Context, req kv.Request) (kv.Response, error) {
	if req.Op == f.op {
		return kv.Response{}, f.err
	}
	return f.fakeData.Do(ctx, req)
}

// TestServiceFailures: a storage failure inside a service answers the
// status it would answer anywhere else; a limit that stops a mutation
// after it wrote answers that the outcome is unknown, not that it was
// refused; and the result is held to the GraphQL limits' response
// bytes.
func TestServiceFailures(t *testing.T) {
	// cancelAndSummarize cancels an order, then sums up its customer.
	services := append(slices.Clone(shopServices), service.Service{Name: "cancelAndSummarize", Mutation: true, Returns: "JSON",
		Reads: []string{"Customer", "Order"}, Writes: []string{"Order"},
		Args: []service.Arg{{Name: "customer_id", Type: "String!"}, {Name: "id", Type: "String!"}},
		Func: func(c *service.Context, args map[string]any) (any, error) {
			if _, err := shopServices[2].Func(c, args); err != nil {
				return nil, err
			}
			return shopServices[0].Func(c, map[string]any{"id": args["customer_id"]})
		}})
	cancel := `{"customer_id": "c1", "id": "o1"}`
	for _, c := range []struct {
		name    string
		backend Backend
		limits  graphql.Limits
		path    string
		body    string
		status  int
		want    string
	}{
		{"a write of unknown outcome", failingObjects{shop(t), kv.OpPutObject, fmt.Errorf("%w: no answer in time", ErrUnknownOutcome)}, graphql.Limits{},
			"/v1/services/cancelOrder", cancel, 504,
			`{"error":"service cancelOrder: writing Order c1,o1: the outcome is unknown: the request may or may not have taken effect: no answer in time"}`},
		{"a read unavailable", failingObjects{shop(t), kv.OpGetObject, fmt.Errorf("%w: no leader is known", ErrUnavailable)}, graphql.Limits{},
			"/v1/services/customerSummary", `{"id": "c1"}`, 503, `{"error":"service customerSummary: reading Customer c1: unavailable, nothing was done: no leader is known"}`},
		{"a write unavailable", failingObjects{shop(t), kv.OpPutObject, fmt.Errorf("%w: no leader is known", ErrUnavailable)}, graphql.Limits{},
			"/v1/services/cancelOrder", cancel, 503, `{"error":"service cancelOrder: writing Order c1,o1: unavailable, nothing was done: no leader is known"}`},
		{"a limit before the write", shop(t), graphql.Limits{MaxCalls: 1}, "/v1/services/cancelAndSummarize", cancel, 422,
			`{"error":"service cancelAndSummarize: the request made 1 storage calls, the limit"}`},
		{"a limit after the write", shop(t), graphql.Limits{MaxCalls: 3}, "/v1/services/cancelAndSummarize", cancel, 504,
			`{"error":"service cancelAndSummarize: service cancelAndSummarize stopped after it wrote: the request made 3 storage calls, the limit: the outcome is unknown, its writes may or may not have taken effect"}`},
		{"within the limit", shop(t), graphql.Limits{MaxCalls: 4}, "/v1/services/cancelAndSummarize", cancel, 200, `{"result":{"more":false,"orders":1}}`},
		{"a result over the response bytes", shop(t), graphql.Limits{MaxResponseBytes: 100}, "/v1/services/orders", `{"customer": "c1"}`, 422,
			`{"error":"service orders: the result of service orders is over 100 bytes, the limit"}`},
		{"a mutation's result over the response bytes", shop(t), graphql.Limits{MaxResponseBytes: 100}, "/v1/services/cancelOrder", cancel, 504,
			`{"error":"service cancelOrder: the result of service cancelOrder is over 100 bytes, the limit: the outcome is unknown, its writes may or may not have taken effect"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(NewAPI(c.backend, APIOptions{Logger: quiet, Services: services, GraphQL: c.limits}))
			defer srv.Close()
			if got := callWith(t, srv, "POST", c.path, nil, c.body); got.status != c.status || got.body != c.want {
				t.Errorf("%s %s\n got %d %s\nwant %d %s", c.path, c.body, got.status, got.body, c.status, c.want)
			}
		})
	}
}

// TestServicePanicLogged: a panic is logged with its value, in REST and
// in GraphQL, and its caller told only that the service failed.
func TestServicePanicLogged(t *testing.T) {
	var log bytes.Buffer
	srv := httptest.NewServer(NewAPI(shop(t), APIOptions{Logger: slog.New(slog.NewTextHandler(&log, nil)), Services: shopServices}))
	defer srv.Close()
	if got := callWith(t, srv, "POST", "/v1/services/panics", nil, ""); got.status != 500 || got.body != `{"error":"service panics failed"}` {
		t.Errorf("REST: %d %s", got.status, got.body)
	}
	if got := postGraphQLTo(t, srv, nil, `{ panics }`, nil); got.status != 200 || got.body != `{"data":{"panics":null},"errors":[{"message":"service panics failed","path":["panics"],"locations":[{"line":1,"column":3}]}]}` {
		t.Errorf("GraphQL: %d %s", got.status, got.body)
	}
	if n := strings.Count(log.String(), `msg="service panicked" service=panics panic="index out of range [3]"`); n != 2 {
		t.Errorf("%d panics logged, want 2:\n%s", n, log.String())
	}
}

// TestServiceResult renders results of every kind.
func TestServiceResult(t *testing.T) {
	m, err := model.Parse("model.yaml", []byte("types:\n  T:\n    key: [id]\n    versions:\n      - version: 1\n        fields: {id: string, n: int}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ty, _ := m.Type("T")
	obj := model.Object{"id": "a", "n": json.Number("1")}
	pk, err := ty.PrimaryKey(obj)
	if err != nil {
		t.Fatal(err)
	}
	st := graphql.Stored{Key: pk, Object: obj, Version: 1, Revision: 7}
	for _, c := range []struct {
		res  graphql.ServiceResult
		want string
	}{
		{graphql.ServiceResult{Value: nil}, `null`},
		{graphql.ServiceResult{Value: int64(3)}, `3`},
		{graphql.ServiceResult{Value: json.RawMessage(`{"a":[1]}`)}, `{"a":[1]}`},
		{graphql.ServiceResult{Value: []any{st, nil}, Type: "T"}, `[{"type":"T","key":"a","version":1,"revision":7,"object":{"id":"a","n":1}},null]`},
	} {
		raw, err := serviceResult(httptest.NewRequest("GET", "/", nil), m, c.res)
		if err != nil || string(raw) != c.want {
			t.Errorf("%+v: %s, %v; want %s", c.res, raw, err, c.want)
		}
	}
	if _, err := serviceResult(httptest.NewRequest("GET", "/", nil), m, graphql.ServiceResult{Value: st, Type: "U"}); err == nil {
		t.Error("an object of a type the model lacks rendered")
	}
}
