package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/shoaldb/shoal/core/model"
)

// echo answers the Go types and values its arguments reached it as.
func echo(_ *ServiceCall, args map[string]any) (any, error) {
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		v := args[k]
		if ts, ok := v.(time.Time); ok {
			v = ts.Format(time.RFC3339) + " " + ts.Location().String()
		}
		out = append(out, fmt.Sprintf("%s=%T:%v", k, args[k], v))
	}
	return strings.Join(out, " "), nil
}

// ordersOf lists a customer's orders, of a status if one is given.
func ordersOf(c *ServiceCall, args map[string]any) (any, error) {
	q := url.Values{"customer_id": {args["customer"].(string)}}
	if s, ok := args["status"].(string); ok {
		q.Set("status", s)
	}
	fs, err := c.Filters("Order", q.Encode())
	if err != nil {
		return nil, err
	}
	var out []Stored
	after := ""
	for {
		page, err := c.List("Order", fs, after, 10)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if !page.More {
			return out, nil
		}
		after = page.Last
	}
}

// cancelOrder cancels an open or paid order, on condition of the
// revision it read (or the one given).
func cancelOrder(c *ServiceCall, args map[string]any) (any, error) {
	key := map[string]any{"customer_id": args["customer_id"], "id": args["id"]}
	st, found, err := c.Get("Order", key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("order %s of %s does not exist", args["id"], args["customer_id"])
	}
	rev := st.Revision
	if r, ok := args["ifRevision"].(int64); ok {
		rev = r
	}
	if s := st.Object["status"]; s != "open" && s != "paid" {
		return nil, fmt.Errorf("order %s is %s: only an open or paid order can be cancelled", args["id"], s)
	}
	obj := map[string]any{}
	for k, v := range st.Object {
		obj[k] = v
	}
	obj["status"] = "cancelled"
	return c.Put("Order", obj, Condition{IfRevision: rev})
}

// customerCount counts the customers c1 to c5 that exist.
func customerCount(c *ServiceCall, _ map[string]any) (any, error) {
	n := 0
	for _, id := range []string{"c1", "c2", "c3", "c4", "c5"} {
		// Errors are dropped on purpose: the budget fails the field
		// all the same.
		if _, found, _ := c.Get("Customer", map[string]any{"id": id}); found {
			n++
		}
	}
	return n, nil
}

var testServices = []Service{
	{Name: "echo", Doc: "Echoes the \"Go\" types of its arguments.", Returns: "String!", Func: echo, Args: []ServiceArg{
		{Name: "i", Type: "Int64"}, {Name: "n", Type: "Int", Default: "5", Doc: "a small number"}, {Name: "f", Type: "Float"},
		{Name: "d", Type: "Decimal"}, {Name: "t", Type: "Timestamp"}, {Name: "b", Type: "Bytes"}, {Name: "ok", Type: "Boolean"},
		{Name: "l", Type: "[String!]"}, {Name: "tier", Type: "Customer_tier"}, {Name: "j", Type: "JSON"},
		{Name: "in", Type: "OrderWhere"},
	}},
	{Name: "ordersOf", Returns: "[Order!]!", Reads: []string{"Order"}, Func: ordersOf,
		Args: []ServiceArg{{Name: "customer", Type: "String!"}, {Name: "status", Type: "Order_status"}}},
	{Name: "cancelOrder", Mutation: true, Returns: "Order", Reads: []string{"Order"}, Writes: []string{"Order"}, Func: cancelOrder,
		Args: []ServiceArg{{Name: "customer_id", Type: "String!"}, {Name: "id", Type: "String!"}, {Name: "ifRevision", Type: "Int64"}}},
	{Name: "fail", Returns: "Int64!", Func: func(*ServiceCall, map[string]any) (any, error) { return nil, errors.New("no luck today") }},
	{Name: "panics", Returns: "Int64", Func: func(*ServiceCall, map[string]any) (any, error) { panic("oops") }},
	{Name: "wrongResult", Returns: "Int", Func: func(*ServiceCall, map[string]any) (any, error) { return "seven", nil }},
	{Name: "customerCount", Returns: "Int!", Reads: []string{"Customer"}, Func: customerCount},
	{Name: "sneaky", Returns: "JSON", Reads: []string{"Customer"}, Func: func(c *ServiceCall, _ map[string]any) (any, error) {
		_, _, err := c.Get("Product", map[string]any{"sku": "p1"})
		return nil, err
	}},
	// Left out of the example model's schema, each for its reason.
	{Name: "invoices", Returns: "[Invoice!]", Func: echo},
	{Name: "deleteCustomer", Mutation: true, Returns: "Int", Writes: []string{"Customer"}, Func: echo},
	{Name: "badDefault", Returns: "Int", Func: echo, Args: []ServiceArg{{Name: "n", Type: "Int", Default: `"x"`}}},
	{Name: "takesOutput", Returns: "Int", Func: echo, Args: []ServiceArg{{Name: "c", Type: "Customer"}}},
	{Name: "returnsInput", Returns: "CustomerInput", Func: echo},
	{Name: "readsGhost", Returns: "Int", Reads: []string{"Ghost"}, Func: echo},
	{Name: "echo", Returns: "Int", Func: echo},
	{Name: "putCustomer", Mutation: true, Returns: "Int", Writes: []string{"Customer"}, Func: echo},
	// cancelThenCount cancels an order, then counts customers: a limit
	// it runs into after the write cannot say that nothing was done.
	{Name: "cancelThenCount", Mutation: true, Returns: "Int!", Reads: []string{"Order", "Customer"}, Writes: []string{"Order"},
		Args: []ServiceArg{{Name: "customer_id", Type: "String!"}, {Name: "id", Type: "String!"}},
		Func: func(c *ServiceCall, args map[string]any) (any, error) {
			if _, err := cancelOrder(c, args); err != nil {
				return nil, err
			}
			return customerCount(c, args)
		}},
	// sample answers a customer it makes, of a type it does not read.
	{Name: "sample", Returns: "Customer!", Func: func(*ServiceCall, map[string]any) (any, error) {
		return Stored{Object: map[string]any{"id": "s1", "first_name": "Sam", "last_name": "P", "email": "sam@x.org",
			"created": "2024-01-01T00:00:00Z", "tier": "basic", "newsletter": false}}, nil
	}},
	// page lists a page of orders of the size its argument says.
	{Name: "page", Returns: "Int!", Reads: []string{"Order"}, Args: []ServiceArg{{Name: "first", Type: "Int", Default: "2"}},
		Func: func(c *ServiceCall, args map[string]any) (any, error) {
			page, err := c.List("Order", nil, "", args["first"].(int))
			return len(page.Items), err
		}},
}

func serviceSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := NewSchema(exampleModel(t), testServices...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServiceSchema: services are fields of Query and Mutation, in the
// SDL with their docs and defaults; those the model cannot serve are
// left out, each with its reason.
func TestServiceSchema(t *testing.T) {
	s := serviceSchema(t)
	for _, want := range []string{
		"  \"Echoes the \\\"Go\\\" types of its arguments.\"\n  echo(i: Int64, \"a small number\" n: Int = 5, f: Float, d: Decimal, t: Timestamp, b: Bytes, ok: Boolean, l: [String!], tier: Customer_tier, j: JSON, in: OrderWhere): String!\n",
		"  ordersOf(customer: String!, status: Order_status): [Order!]!\n",
		"  cancelOrder(customer_id: String!, id: String!, ifRevision: Int64): Order\n",
	} {
		if !strings.Contains(s.SDL(), want) {
			t.Errorf("the SDL lacks %q", want)
		}
	}
	if q := s.SDL()[strings.Index(s.SDL(), "type Query {"):]; strings.Contains(q[:strings.Index(q, "}")], "cancelOrder") {
		t.Error("the mutation cancelOrder is in Query")
	}
	var names []string
	for _, svc := range s.Services() {
		names = append(names, svc.Name)
	}
	if got := strings.Join(names, " "); got != "cancelOrder cancelThenCount customerCount echo fail ordersOf page panics sample sneaky wrongResult" {
		t.Errorf("served %s", got)
	}
	var why []string
	for _, e := range s.ServiceErrors() {
		why = append(why, e.Error())
	}
	want := []string{
		`service badDefault: argument n: default "x": Int cannot represent non-integer value: "x"`,
		"service deleteCustomer: its name is the name of a field the schema makes for type Customer",
		"service echo: a service of this name comes before it",
		"service invoices: returns [Invoice!]: the schema of the model has no type Invoice",
		"service putCustomer: its name is the name of a field the schema makes for type Customer",
		"service readsGhost: the model has no type Ghost, which it reads or writes",
		"service returnsInput: returns CustomerInput: a service returns a scalar, an enum or a type of the model, or a list of them",
		"service takesOutput: argument c: Customer is an output type, not an input type",
	}
	if len(why) != len(want) {
		t.Fatalf("left out:\n%s", strings.Join(why, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(why[i], want[i]) {
			t.Errorf("left out %q, want %q", why[i], want[i])
		}
	}
	if _, ok := s.Service("invoices"); ok {
		t.Error("invoices is served")
	}
	// The model's schema alone is as it was.
	plain, err := NewSchema(exampleModel(t))
	if err != nil || plain.SDL() != SDL(plain.Model()) || len(plain.Services()) != 0 {
		t.Errorf("NewSchema without services: %v", err)
	}
}

// TestServiceQueries runs the services through Execute.
func TestServiceQueries(t *testing.T) {
	s := serviceSchema(t)
	for _, c := range []struct {
		name, query string
		vars        map[string]any
		want        string
	}{
		{"args as Go values", `{ echo(i: "9007199254740993", f: 1.5, d: "1.50e1", t: "2024-01-02T04:04:05+01:00", b: "AQID", ok: true, l: "one", tier: gold, j: {a: [1, "x"]}, in: {status: {eq: open}}) }`, nil,
			`{"data":{"echo":"b=[]uint8:[1 2 3] d=string:15 f=float64:1.5 i=int64:9007199254740993 in=map[string]interface {}:map[status:map[eq:open]] j=map[string]interface {}:map[a:[1 x]] l=[]interface {}:[one] n=int:5 ok=bool:true t=time.Time:2024-01-02T03:04:05Z UTC tier=string:gold"}}`},
		{"args from variables", `query($i: Int64, $n: Int) { echo(i: $i, n: $n) }`, map[string]any{"i": "12", "n": 3.0},
			`{"data":{"echo":"i=int64:12 n=int:3"}}`},
		{"a bad Int64", `{ echo(i: "x") }`, nil, `{"data":null,"errors":["argument i: \"x\" is not a 64-bit integer"@echo@1:3]}`},
		{"a bad Decimal", `{ echo(d: "1,5") }`, nil, `{"data":null,"errors":["argument d: \"1,5\" is not a decimal"@echo@1:3]}`},
		{"a bad Timestamp", `{ echo(t: "yesterday") }`, nil, `{"data":null,"errors":["argument t: \"yesterday\" is not an RFC 3339 time"@echo@1:3]}`},
		{"a wrong type", `{ echo(n: "5") }`, nil, `{"errors":["Int cannot represent non-integer value: \"5\""@1:12]}`},
		{"objects with sub-selections and relations", `{ ordersOf(customer: "c1") { id total customer { first_name } shipments { edges { node { seq } } } } }`, nil,
			`{"data":{"ordersOf":[{"id":"o1","total":"25","customer":{"first_name":"Ada"},"shipments":{"edges":[{"node":{"seq":1}},{"node":{"seq":2}}]}},{"id":"o2","total":"0","customer":{"first_name":"Ada"},"shipments":{"edges":[]}}]}}`},
		{"an enum argument", `{ ordersOf(customer: "c1", status: open) { id status } }`, nil, `{"data":{"ordersOf":[{"id":"o2","status":"open"}]}}`},
		{"a required argument left out", `{ ordersOf { id } }`, nil, `{"errors":["Field \"ordersOf\" argument \"customer\" of type \"String!\" is required, but it was not provided."@1:3]}`},
		{"a mutation", `mutation { cancelOrder(customer_id: "c1", id: "o2") { id status _revision _history { object { status } } } }`, nil,
			`{"data":{"cancelOrder":{"id":"o2","status":"cancelled","_revision":12,"_history":[{"object":{"status":"open"}}]}}}`},
		{"a mutation at a revision gone", `mutation { cancelOrder(customer_id: "c1", id: "o2", ifRevision: 3) { id } }`, nil,
			`{"data":{"cancelOrder":null},"errors":["writing Order c1,o2: the condition of the write does not hold"@cancelOrder@1:12]}`},
		{"the service's error", `mutation { cancelOrder(customer_id: "c2", id: "o3") { id } }`, nil,
			`{"data":{"cancelOrder":null},"errors":["order o3 is shipped: only an open or paid order can be cancelled"@cancelOrder@1:12]}`},
		{"an error for a non-null result", `{ fail __typename }`, nil, `{"data":null,"errors":["no luck today"@fail@1:3]}`},
		{"a panic", `{ panics }`, nil, `{"data":{"panics":null},"errors":["service panics failed"@panics@1:3]}`},
		{"an explicit null takes the default", `{ page(first: null) }`, nil, `{"data":{"page":2}}`},
		{"a variable's null takes the default", `query($n: Int) { page(first: $n) }`, map[string]any{"n": nil}, `{"data":{"page":2}}`},
		{"a result not of its type", `{ wrongResult }`, nil, `{"data":{"wrongResult":null},"errors":["service wrongResult returned \"seven\" (a string) for Int"@wrongResult@1:3]}`},
		{"a type it did not declare", `{ sneaky }`, nil, `{"data":{"sneaky":null},"errors":["service sneaky reads Product, which it does not declare in Reads"@sneaky@1:3]}`},
		{"a mutation in a query", `{ cancelOrder(customer_id: "c1", id: "o2") { id } }`, nil, `{"errors":["Cannot query field \"cancelOrder\" on type \"Query\"."@1:3]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := seed(t, s)
			if got := run(t, s, d, c.query, c.vars); got != c.want {
				t.Errorf("%s\n got: %s\nwant: %s", c.query, got, c.want)
			}
		})
	}
}

// TestServiceRights: a caller needs read of every type a service reads
// and write of every type it writes; the objects it returns are
// completed under the caller's rights.
func TestServiceRights(t *testing.T) {
	s := serviceSchema(t)
	for _, c := range []struct{ query, want string }{
		// rights (query_test.go) reads everything but Product and
		// Customer's email and last_name, and writes Order only.
		{`{ customerCount }`, `{"data":null,"errors":["not allowed to read the whole of Customer (every field), which service customerCount reads"@customerCount@1:3]}`},
		{`{ ordersOf(customer: "c1") { id customer { id email } } }`,
			`{"data":{"ordersOf":[{"id":"o1","customer":{"id":"c1","email":null}},{"id":"o2","customer":{"id":"c1","email":null}}]},"errors":["not allowed to read Customer.email"@ordersOf[0].customer.email@1:47,"not allowed to read Customer.email"@ordersOf[1].customer.email@1:47]}`},
		{`mutation { cancelOrder(customer_id: "c1", id: "o2") { status } }`, `{"data":{"cancelOrder":{"status":"cancelled"}}}`},
	} {
		d := seed(t, s)
		if got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: c.query, Rights: rights{}})); got != c.want {
			t.Errorf("%s\n got: %s\nwant: %s", c.query, got, c.want)
		}
	}
	d := seed(t, s)
	got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: `mutation { cancelOrder(customer_id: "c1", id: "o2") { status } }`, Rights: readOnly{}}))
	if want := `{"data":{"cancelOrder":null},"errors":["not allowed to write Order, which service cancelOrder writes"@cancelOrder@1:12]}`; got != want || d.calls != 0 {
		t.Errorf("a reader's cancelOrder: %d calls, got %s\nwant %s", d.calls, got, want)
	}
	got = respJSON(t, Execute(Request{Schema: s, Data: d, Query: `{ ordersOf(customer: "c1") { id } }`, Rights: noOrders{}}))
	if want := `{"data":null,"errors":["not allowed to read the whole of Order (every field), which service ordersOf reads"@ordersOf@1:3]}`; got != want || d.calls != 0 {
		t.Errorf("ordersOf without read of Order: %d calls, got %s\nwant %s", d.calls, got, want)
	}
	// A grant of some fields of a type is not read of the type for a
	// service: its function would see the others.
	part := fieldRights{read: map[string][]string{"Customer": {"id", "first_name"}, "Order": nil}}
	got = respJSON(t, Execute(Request{Schema: s, Data: d, Query: `{ customerCount }`, Rights: part}))
	if want := `{"data":null,"errors":["not allowed to read the whole of Customer (every field), which service customerCount reads"@customerCount@1:3]}`; got != want || d.calls != 0 {
		t.Errorf("customerCount with Customer.id and Customer.first_name: %d calls, got %s\nwant %s", d.calls, got, want)
	}
	whole := fieldRights{read: map[string][]string{"Customer": nil}}
	if got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: `{ customerCount }`, Rights: whole})); got != `{"data":{"customerCount":3}}` {
		t.Errorf("customerCount with Customer whole: %s", got)
	}
}

type readOnly struct{ rights }

func (readOnly) CanWrite(string) bool { return false }

type noOrders struct{ rights }

func (noOrders) CanRead(typ string) bool { return typ != "Order" }
func (noOrders) CanReadWhole(typ string) bool {
	return typ != "Order" && typ != "Customer" && typ != "Product"
}

// TestServiceLimits: a service field costs ServiceCost more than 1, and
// its storage calls count against MaxCalls, which fails the field even
// when the function drops the errors.
func TestServiceLimits(t *testing.T) {
	s := serviceSchema(t)
	d := seed(t, s)
	q := `{ customerCount }`
	if got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: q, Limits: Limits{MaxCost: ServiceCost}})); !strings.Contains(got, "the query costs more than 100") || d.calls != 0 {
		t.Errorf("cost %d: %s", ServiceCost, got)
	}
	if got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: q, Limits: Limits{MaxCost: ServiceCost + 1}})); got != `{"data":{"customerCount":3}}` {
		t.Errorf("cost %d: %s", ServiceCost+1, got)
	}
	d.calls = 0
	got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: q, Limits: Limits{MaxCalls: 3}}))
	if want := `{"data":null,"errors":["the request made 3 storage calls, the limit"@customerCount@1:3]}`; got != want || d.calls != 3 {
		t.Errorf("MaxCalls 3: %d calls, %s\nwant %s", d.calls, got, want)
	}
	// A request whose context is done fails whole.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ex := newExecutor(s, d, nil, nil, nil, Limits{}, ctx)
	svc, _ := s.services["customerCount"]
	if _, err := ex.runService(svc, &ast.Field{Name: "customerCount"}); err == nil || err.Error() != "the request was cancelled" {
		t.Errorf("a cancelled request: %v", err)
	}
}

// TestCallService calls services as REST does: the same coercion,
// rights and limits, and the result uncompleted.
func TestCallService(t *testing.T) {
	s := serviceSchema(t)
	call := func(name string, args map[string]any, r Rights) (ServiceResult, error) {
		return CallService(ServiceRequest{Schema: s, Service: name, Args: args, Data: seed(t, s), Rights: r})
	}
	res, err := call("ordersOf", map[string]any{"customer": "c1", "status": "paid"}, nil)
	if err != nil || res.Type != "Order" {
		t.Fatalf("ordersOf: %+v, %v", res, err)
	}
	if list, ok := res.Value.([]any); !ok || len(list) != 1 || list[0].(Stored).Object["id"] != "o1" || list[0].(Stored).Key == "" {
		t.Errorf("ordersOf gave %#v", res.Value)
	}
	res, err = call("echo", map[string]any{"i": "12", "d": 2.5}, nil)
	if err != nil || res.Value != "d=string:2.5 i=int64:12 n=int:5" || res.Type != "" {
		t.Errorf("echo: %#v, %v", res.Value, err)
	}
	for _, c := range []struct {
		name string
		args map[string]any
		r    Rights
		kind error
		code string
		want string
	}{
		{"nope", nil, nil, ErrNoService, "", `no such service: "nope"`},
		{"invoices", nil, nil, ErrNoService, "", `no such service: "invoices"`},
		{"ordersOf", nil, nil, ErrArgs, CodeBadRequest, "argument customer: must be defined"},
		{"ordersOf", map[string]any{"customer": 5}, nil, ErrArgs, CodeBadRequest, "argument customer: cannot use int as String"},
		{"ordersOf", map[string]any{"customer": "c1", "status": "lost"}, nil, ErrArgs, CodeBadRequest, "argument status: lost is not a valid Order_status"},
		{"ordersOf", map[string]any{"customer": "c1", "zz": 1}, nil, ErrArgs, CodeBadRequest, "argument zz: service ordersOf has no such argument (it takes customer, status)"},
		{"echo", map[string]any{"i": "x"}, nil, ErrArgs, CodeBadRequest, `argument i: "x" is not a 64-bit integer`},
		{"ordersOf", map[string]any{"customer": "c1"}, noOrders{}, ErrForbidden, CodeForbidden, "not allowed to read the whole of Order (every field), which service ordersOf reads"},
		{"ordersOf", map[string]any{"customer": "c1"}, onlyIDs{}, ErrForbidden, CodeForbidden, "not allowed to read the whole of Order (every field), which service ordersOf reads"},
		{"cancelOrder", map[string]any{"customer_id": "c1", "id": "o2"}, readOnly{}, ErrForbidden, CodeForbidden, "not allowed to write Order, which service cancelOrder writes"},
		{"cancelOrder", map[string]any{"customer_id": "c1", "id": "o2", "ifRevision": 2}, nil, ErrCondition, CodePreconditionFailed, "writing Order c1,o2: the condition of the write does not hold"},
		{"page", map[string]any{"first": 0}, nil, nil, CodeBadRequest, "listing Order: limit 0, want 1 to 1000"},
		{"customerCount", nil, nil, ErrLimit, CodeRefused, "the request made 2 storage calls, the limit"},
		{"fail", nil, nil, nil, "", "no luck today"},
		{"panics", nil, nil, nil, "", "service panics failed"},
	} {
		_, err := CallService(ServiceRequest{Schema: s, Service: c.name, Args: c.args, Data: seed(t, s), Rights: c.r, Limits: Limits{MaxCalls: 2}})
		var ce *CodedError
		code := ""
		if errors.As(err, &ce) {
			code = ce.Code
		}
		if err == nil || err.Error() != c.want || c.kind != nil && !errors.Is(err, c.kind) || code != c.code {
			t.Errorf("%s %v: %v (code %q), want %q (%v, code %q)", c.name, c.args, err, code, c.want, c.kind, c.code)
		}
	}
	// An object of a type the caller reads in part comes back with the
	// fields it may read, as GraphQL would select them.
	res, err = call("sample", nil, rights{})
	if st, ok := res.Value.(Stored); err != nil || !ok || strings.Join(sortedKeys(st.Object), " ") != "created first_name id newsletter tier" {
		t.Errorf("sample under rights: %#v, %v", res.Value, err)
	}
	if _, err := call("sample", nil, noCustomers{}); !errors.Is(err, ErrForbidden) || err.Error() != "not allowed to read Customer" {
		t.Errorf("sample without read of Customer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err = CallService(ServiceRequest{Schema: s, Service: "customerCount", Data: seed(t, s), Context: ctx}); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled call: %v", err)
	}
}

type onlyIDs struct{ rights }

func (onlyIDs) CanReadField(typ, field string) bool { return field == "id" }
func (onlyIDs) CanReadWhole(string) bool            { return false }

type noCustomers struct{ rights }

func (noCustomers) CanRead(typ string) bool { return typ != "Customer" }

// TestCheckService: the rules of a service's declaration.
func TestCheckService(t *testing.T) {
	ok := Service{Name: "ok", Returns: "Int", Func: echo}
	if err := CheckService(ok); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		change func(*Service)
		want   string
	}{
		{func(s *Service) { s.Name = "Upper" }, `service "Upper": a service's name is a lower-case letter, then letters, digits and _ (at most 64 bytes)`},
		{func(s *Service) { s.Name = "has-dash" }, `service "has-dash": a service's name is a lower-case letter, then letters, digits and _ (at most 64 bytes)`},
		{func(s *Service) { s.Name = strings.Repeat("a", 65) }, `service "` + strings.Repeat("a", 65) + `": a service's name is a lower-case letter, then letters, digits and _ (at most 64 bytes)`},
		{func(s *Service) { s.Func = nil }, "service ok: no function"},
		{func(s *Service) { s.Returns = "" }, `service ok: returns "": want a type such as String!, [Order!] or Customer`},
		{func(s *Service) { s.Returns = "[Int" }, `service ok: returns "[Int": a list without its ]`},
		{func(s *Service) { s.Returns = "Int!!" }, `service ok: returns "Int!!": unexpected "!" after the type`},
		{func(s *Service) { s.Args = []ServiceArg{{Name: "a", Type: "Int"}, {Name: "a", Type: "Int"}} }, "service ok: argument a given twice"},
		{func(s *Service) { s.Args = []ServiceArg{{Name: "__a", Type: "Int"}} }, `service ok: argument "__a": an argument's name is letters, digits and _ (at most 64 bytes), not starting with a digit or __`},
		{func(s *Service) { s.Args = []ServiceArg{{Name: "a", Type: "9"}} }, `service ok: argument a: type "9": want a type's name or [, got "9"`},
		{func(s *Service) { s.Args = []ServiceArg{{Name: "a", Type: "Int", Default: "1) { x"}} }, `service ok: argument a: default "1) { x" is not one GraphQL value on one line`},
		{func(s *Service) { s.Reads = []string{"not a type"} }, `service ok: "not a type" is not a type's name`},
		{func(s *Service) { s.Writes = []string{"Order"} }, "service ok: a query writes nothing, but it declares writes of Order: make it a mutation"},
	} {
		s := ok
		c.change(&s)
		if err := CheckService(s); err == nil || err.Error() != c.want {
			t.Errorf("%+v: %v, want %q", s, err, c.want)
		}
	}
}

// FuzzServiceArgs: no arguments make CallService panic; an argument
// refused is refused before the function runs (no Data call), coded
// bad_request; any other error says its code, or is the function's own;
// and echo's n, which defaults to 5, is 5 when it is left out or null.
func FuzzServiceArgs(f *testing.F) {
	f.Add(`{"i": "12", "l": ["a"], "in": {"status": {"in": ["open"]}}, "t": "2024-01-01T00:00:00Z", "b": "AQID"}`)
	f.Add(`{"customer": "c1", "status": "open"}`)
	f.Add(`{"n": null, "i": null}`)
	f.Add(`{"customer_id": "c1", "id": "o2", "ifRevision": null}`)
	f.Add(`{"customer": "", "id": ""}`)
	s := serviceSchema(f)
	f.Fuzz(func(t *testing.T, args string) {
		var v map[string]any
		if err := jsonUnmarshalNumbers([]byte(args), &v); err != nil {
			return
		}
		for _, name := range []string{"echo", "ordersOf", "cancelOrder"} {
			d := seed(t, s)
			res, err := CallService(ServiceRequest{Schema: s, Service: name, Args: v, Data: d, Limits: Limits{MaxCalls: 20}})
			var ce *CodedError
			switch {
			case errors.Is(err, ErrArgs):
				if !errors.As(err, &ce) || ce.Code != CodeBadRequest || d.calls != 0 || !strings.HasPrefix(err.Error(), "argument ") {
					t.Fatalf("%s %s: an argument refused after %d calls, or without its code or name: %v", name, args, d.calls, err)
				}
			case err != nil:
				own := strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "only an open or paid order")
				if !errors.As(err, &ce) && !own {
					t.Fatalf("%s %s: an error without a code: %v", name, args, err)
				}
			case name == "echo":
				if n, given := v["n"]; (!given || n == nil) && !strings.Contains(res.Value.(string), "n=int:5") {
					t.Fatalf("echo %s: n not defaulted: %v", args, res.Value)
				}
			}
		}
	})
}

func jsonUnmarshalNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// TestServiceAfterWrite: a limit that stops a mutation after it wrote
// does not say that nothing was done: its outcome is unknown.
func TestServiceAfterWrite(t *testing.T) {
	s := serviceSchema(t)
	args := map[string]any{"customer_id": "c1", "id": "o2"}
	// Get and Put of the order, then customers: the third call is over.
	d := seed(t, s)
	_, err := CallService(ServiceRequest{Schema: s, Service: "cancelThenCount", Args: args, Data: d, Limits: Limits{MaxCalls: 2}})
	var ce *CodedError
	if !errors.As(err, &ce) || ce.Code != CodeOutcomeUnknown || errors.Is(err, ErrLimit) ||
		err.Error() != "service cancelThenCount stopped after it wrote: the request made 2 storage calls, the limit: the outcome is unknown, its writes may or may not have taken effect" {
		t.Errorf("over MaxCalls after a write: %v", err)
	}
	if st, _, _ := d.Get("Order", seedKey(t, s, "Order", args)); st.Object["status"] != "cancelled" {
		t.Errorf("the write was not made: %v", st.Object)
	}
	// The same in GraphQL: the field's error is coded outcome_unknown.
	resp := Execute(Request{Schema: s, Data: seed(t, s), Query: `mutation { cancelThenCount(customer_id: "c1", id: "o2") }`, Limits: Limits{MaxCalls: 2}})
	if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != CodeOutcomeUnknown {
		t.Errorf("GraphQL: %v", resp.Errors)
	}
	// Over the limit before the write: refused, nothing done.
	d = seed(t, s)
	_, err = CallService(ServiceRequest{Schema: s, Service: "cancelThenCount", Args: args, Data: d, Limits: Limits{MaxCalls: 1}})
	if !errors.Is(err, ErrLimit) || !errors.As(err, &ce) || ce.Code != CodeRefused {
		t.Errorf("over MaxCalls before a write: %v", err)
	}
	// A context done after the write: unknown too.
	ctx, cancel := context.WithCancel(context.Background())
	d = seed(t, s)
	_, err = CallService(ServiceRequest{Schema: s, Service: "cancelThenCount", Args: args, Data: cancelAfterPut{d, cancel}, Context: ctx})
	if !errors.As(err, &ce) || ce.Code != CodeOutcomeUnknown {
		t.Errorf("cancelled after a write: %v", err)
	}
}

// cancelAfterPut cancels the request's context once it has written.
type cancelAfterPut struct {
	*memData
	cancel context.CancelFunc
}

func (c cancelAfterPut) Put(typ, pk string, obj model.Object, cond Condition) (Stored, error) {
	defer c.cancel()
	return c.memData.Put(typ, pk, obj, cond)
}

// seedKey encodes the key of typ's object whose key fields are in key.
func seedKey(t *testing.T, s *Schema, typ string, key map[string]any) string {
	t.Helper()
	mt, _ := s.Model().Type(typ)
	pk, err := keyOf(mt, map[string]any{"customer_id": key["customer_id"], "id": key["id"]})
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// TestServiceResponseBytes: CallService holds a result to
// Limits.MaxResponseBytes, as Execute holds a response.
func TestServiceResponseBytes(t *testing.T) {
	s := serviceSchema(t)
	call := func(name string, args map[string]any, max int) error {
		_, err := CallService(ServiceRequest{Schema: s, Service: name, Args: args, Data: seed(t, s), Limits: Limits{MaxResponseBytes: max}})
		return err
	}
	if err := call("ordersOf", map[string]any{"customer": "c1"}, 100); !errors.Is(err, ErrLimit) ||
		err.Error() != "the result of service ordersOf is over 100 bytes, the limit" {
		t.Errorf("ordersOf over 100 bytes: %v", err)
	}
	if err := call("ordersOf", map[string]any{"customer": "c1"}, 10000); err != nil {
		t.Errorf("ordersOf within 10000 bytes: %v", err)
	}
	// A mutation's writes are done: not a refusal.
	var ce *CodedError
	if err := call("cancelOrder", map[string]any{"customer_id": "c1", "id": "o2"}, 50); errors.Is(err, ErrLimit) || !errors.As(err, &ce) || ce.Code != CodeOutcomeUnknown {
		t.Errorf("cancelOrder over 50 bytes: %v", err)
	}
}

// TestServiceErrorCodes: a service field's error carries its code as
// any field's does.
func TestServiceErrorCodes(t *testing.T) {
	s := serviceSchema(t)
	for _, c := range []struct {
		name, query string
		r           Rights
		lim         Limits
		code        string
	}{
		{"forbidden", `mutation { cancelOrder(customer_id: "c1", id: "o2") { id } }`, readOnly{}, Limits{}, CodeForbidden},
		{"an argument", `{ echo(i: "x") }`, nil, Limits{}, CodeBadRequest},
		{"a limit", `{ customerCount }`, nil, Limits{MaxCalls: 2}, CodeRefused},
		{"a condition", `mutation { cancelOrder(customer_id: "c1", id: "o2", ifRevision: 3) { id } }`, nil, Limits{}, CodePreconditionFailed},
		{"a list argument", `{ page(first: 0) }`, nil, Limits{}, CodeBadRequest},
		{"the function's own", `{ fail }`, nil, Limits{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := Execute(Request{Schema: s, Data: seed(t, s), Query: c.query, Rights: c.r, Limits: c.lim})
			if len(resp.Errors) != 1 {
				t.Fatalf("errors %v, want one", resp.Errors)
			}
			if code, _ := resp.Errors[0].Extensions["code"].(string); code != c.code {
				t.Errorf("%q: code %q, want %q", resp.Errors[0].Message, code, c.code)
			}
		})
	}
	// Data's own code comes through the function.
	resp := Execute(Request{Schema: s, Data: failingData{seed(t, s)}, Query: `mutation { cancelOrder(customer_id: "c1", id: "o2") { id } }`})
	if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "unavailable" {
		t.Errorf("a write that failed unavailable: %v", resp.Errors)
	}
}

// panicLog is a Data that keeps the panics it is told of.
type panicLog struct {
	*memData
	panics []*ServicePanic
}

func (p *panicLog) LogServicePanic(sp *ServicePanic) { p.panics = append(p.panics, sp) }

// TestServicePanic: a panic fails its field with a message that tells
// nothing of it, and the Data that logs panics is told its value.
func TestServicePanic(t *testing.T) {
	s := serviceSchema(t)
	d := &panicLog{memData: seed(t, s)}
	_, err := CallService(ServiceRequest{Schema: s, Service: "panics", Data: d})
	var sp *ServicePanic
	if !errors.As(err, &sp) || err.Error() != "service panics failed" || len(d.panics) != 1 || d.panics[0].Value != "oops" || len(d.panics[0].Stack) == 0 {
		t.Errorf("a panic: %v, logged %v", err, d.panics)
	}
}

// TestServiceCopies: what Schema.Services and Schema.Service return is
// the caller's to change.
func TestServiceCopies(t *testing.T) {
	s := serviceSchema(t)
	svc, _ := s.Service("ordersOf")
	svc.Args[0].Name, svc.Reads[0] = "x", "Product"
	for _, svc := range s.Services() {
		if svc.Name == "ordersOf" {
			svc.Args[0].Name = "y"
		}
	}
	if again, _ := s.Service("ordersOf"); again.Args[0].Name != "customer" || again.Reads[0] != "Order" {
		t.Errorf("the schema's service changed: %+v", again)
	}
}
