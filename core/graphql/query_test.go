package graphql

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

type queryCase struct {
	name  string
	query string
	vars  map[string]any
	want  string
}

// runCases runs each case on a fresh seeded store.
func runCases(t *testing.T, cases []queryCase) {
	s := exampleSchema(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := seed(t, s)
			got := run(t, s, d, c.query, c.vars)
			if got != c.want {
				t.Errorf("%s\n got: %s\nwant: %s", c.query, got, c.want)
			}
		})
	}
}

func ids(typ, where string) string {
	return `{` + typ + `(where: ` + where + `) { edges { node { ` + idField(typ) + ` } } } }`
}

func idField(typ string) string {
	switch typ {
	case "Products":
		return "sku"
	case "Shipments":
		return "seq"
	}
	return "id"
}

// TestFilters: every operator, on every kind of field, and and or.
func TestFilters(t *testing.T) {
	runCases(t, []queryCase{
		{"eq", ids("Customers", `{id: {eq: "c2"}}`), nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c2"}}]}}}`},
		{"ne null", ids("Customers", `{email: {ne: "ada@x.org"}}`), nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c2"}},{"node":{"id":"c3"}}]}}}`},
		{"gt", ids("Products", `{stock: {gt: 7}}`), nil, `{"data":{"Products":{"edges":[{"node":{"sku":"p1"}}]}}}`},
		{"ge", ids("Products", `{stock: {ge: 7}}`), nil, `{"data":{"Products":{"edges":[{"node":{"sku":"p1"}},{"node":{"sku":"p3"}}]}}}`},
		{"lt", ids("Products", `{weight_kg: {lt: 0.5}}`), nil, `{"data":{"Products":{"edges":[{"node":{"sku":"p3"}}]}}}`},
		{"le", ids("Products", `{weight_kg: {le: 0.5}}`), nil, `{"data":{"Products":{"edges":[{"node":{"sku":"p1"}},{"node":{"sku":"p3"}}]}}}`},
		{"decimal", ids("Products", `{price: {gt: "9.5"}}`), nil, `{"data":{"Products":{"edges":[{"node":{"sku":"p1"}},{"node":{"sku":"p3"}}]}}}`},
		{"timestamp", ids("Customers", `{created: {ge: "2024-02-01T01:00:00+01:00"}}`), nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c2"}},{"node":{"id":"c3"}}]}}}`},
		{"in", ids("Customers", `{id: {in: ["c1", "c3", "zz"]}}`), nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c1"}},{"node":{"id":"c3"}}]}}}`},
		{"in enum", ids("Orders", `{status: {in: [open, shipped]}}`), nil, `{"data":{"Orders":{"edges":[{"node":{"id":"o2"}},{"node":{"id":"o3"}}]}}}`},
		{"prefix", ids("Customers", `{email: {prefix: "cy@"}}`), nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c3"}}]}}}`},
		{"bool", ids("Customers", `{newsletter: {eq: true}}`), nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c1"}},{"node":{"id":"c3"}}]}}}`},
		{"bytes", ids("Products", `{image: {eq: "AQID"}}`), nil, `{"data":{"Products":{"edges":[{"node":{"sku":"p1"}}]}}}`},
		{"ref", ids("Orders", `{customer_id: {eq: "c1"}}`), nil, `{"data":{"Orders":{"edges":[{"node":{"id":"o1"}},{"node":{"id":"o2"}}]}}}`},
		{"record field", ids("Orders", `{shipping_address: {country: {eq: "BE"}}}`), nil, `{"data":{"Orders":{"edges":[{"node":{"id":"o3"}}]}}}`},
		{"and", ids("Customers", `{and: [{newsletter: {eq: true}}, {tier: {eq: basic}}]}`), nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c3"}}]}}}`},
		{"or", ids("Customers", `{or: [{id: {eq: "c1"}}, {tier: {eq: basic}, newsletter: {eq: false}}]}`), nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c1"}},{"node":{"id":"c2"}}]}}}`},
		{"or in and", ids("Products", `{stock: {gt: 0}, or: [{category: {eq: books}}, {category: {eq: toys}, and: [{price: {gt: "100"}}]}]}`), nil, `{"data":{"Products":{"edges":[{"node":{"sku":"p1"}},{"node":{"sku":"p3"}}]}}}`},
		{"bad value", ids("Products", `{price: {gt: "x"}}`), nil, `{"data":null,"errors":["where: filter \"price[gt]\": \"x\" is not a decimal"@Products@1:2]}`},
		{"prefix on int", ids("Products", `{stock: {prefix: "1"}}`), nil, `{"errors":["Field \"prefix\" is not defined by type \"Int64Filter\"."@1:27]}`},
		{"variables", `query($w: CustomerWhere) { Customers(where: $w) { edges { node { id } } } }`,
			map[string]any{"w": map[string]any{"tier": map[string]any{"eq": "gold"}}}, `{"data":{"Customers":{"edges":[{"node":{"id":"c1"}}]}}}`},
	})
}

const page = `query($first: Int, $after: String) { Customers(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`

// TestPagination: empty, first and last pages, first 0, first over the
// maximum, a cursor of a deleted object and cursors of other listings.
func TestPagination(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	short := func(q string, vars map[string]any) string {
		return run(t, s, d, q, vars)
	}
	got := short(`{ Customers(first: 2) { edges { node { id } } pageInfo { hasNextPage } } }`, nil)
	if got != `{"data":{"Customers":{"edges":[{"node":{"id":"c1"}},{"node":{"id":"c2"}}],"pageInfo":{"hasNextPage":true}}}}` {
		t.Errorf("first page: %s", got)
	}
	resp := Execute(Request{Schema: s, Data: d, Query: page, Variables: map[string]any{"first": 2}})
	end := endCursor(t, resp)
	got = short(page, map[string]any{"first": 2, "after": end})
	if !contains(got, `"edges":[{"cursor":`) || !contains(got, `"id":"c3"`) || !contains(got, `"hasNextPage":false`) {
		t.Errorf("last page: %s", got)
	}
	// The cursor of c2 still works once c2 is deleted.
	if got := short(`mutation { deleteCustomer(id: "c2") { id } }`, nil); got != `{"data":{"deleteCustomer":{"id":"c2"}}}` {
		t.Fatalf("delete: %s", got)
	}
	got = short(`query($a: String) { Customers(after: $a) { edges { node { id } } pageInfo { hasNextPage } } }`, map[string]any{"a": end})
	if got != `{"data":{"Customers":{"edges":[{"node":{"id":"c3"}}],"pageInfo":{"hasNextPage":false}}}}` {
		t.Errorf("after a deleted object: %s", got)
	}
	for _, c := range []struct{ q, want string }{
		{`{ Shipments(where: {tracking: {eq: "none"}}) { edges { node { seq } } pageInfo { hasNextPage endCursor } } }`,
			`{"data":{"Shipments":{"edges":[],"pageInfo":{"hasNextPage":false,"endCursor":null}}}}`},
		{`{ Customers(first: 0) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
			`{"data":{"Customers":{"edges":[],"pageInfo":{"hasNextPage":true,"endCursor":null}}}}`},
		{`{ Customers(first: 1001) { edges { node { id } } } }`,
			`{"errors":["first: 1001: want 0 to 1000"@1:3]}`},
		{`{ Customers(first: -1) { edges { node { id } } } }`,
			`{"errors":["first: -1: want 0 to 1000"@1:3]}`},
		{`{ Customers(after: "bm90IGEgY3Vyc29y") { edges { node { id } } } }`,
			`{"data":null,"errors":["after: \"bm90IGEgY3Vyc29y\" is not a cursor (a cursor is an edge's cursor or pageInfo's endCursor)"@Customers@1:3]}`},
		{`{ Customers(after: "` + end + `", where: {tier: {eq: gold}}) { edges { node { id } } } }`,
			`{"data":null,"errors":["after: the cursor belongs to a listing of another type, where or orderBy"@Customers@1:3]}`},
	} {
		if got := short(c.q, nil); got != c.want {
			t.Errorf("%s\n got: %s\nwant: %s", c.q, got, c.want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func endCursor(t *testing.T, resp Response) string {
	t.Helper()
	var v struct {
		Customers struct {
			PageInfo struct{ EndCursor string }
		}
	}
	if err := json.Unmarshal(resp.Data, &v); err != nil || v.Customers.PageInfo.EndCursor == "" {
		t.Fatalf("no end cursor in %s (%v)", resp.Data, err)
	}
	return v.Customers.PageInfo.EndCursor
}

// TestOrderBy sorts by an index both ways and by the key descending,
// and pages through a sorted listing.
func TestOrderBy(t *testing.T) {
	runCases(t, []queryCase{
		{"index asc", `{ Orders(orderBy: {by: by_status}) { edges { node { id status } } } }`, nil, `{"data":{"Orders":{"edges":[{"node":{"id":"o2","status":"open"}},{"node":{"id":"o1","status":"paid"}},{"node":{"id":"o3","status":"shipped"}}]}}}`},
		{"index desc", `{ Orders(orderBy: {by: by_status, direction: DESC}) { edges { node { id } } } }`, nil, `{"data":{"Orders":{"edges":[{"node":{"id":"o3"}},{"node":{"id":"o1"}},{"node":{"id":"o2"}}]}}}`},
		{"key desc", `{ Customers(orderBy: {direction: DESC}, first: 2) { edges { node { id } } pageInfo { hasNextPage } } }`, nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c3"}},{"node":{"id":"c2"}}],"pageInfo":{"hasNextPage":true}}}}`},
		{"nulls last", `{ Customers(orderBy: {by: by_email}) { edges { node { id } } } }`, nil, `{"data":{"Customers":{"edges":[{"node":{"id":"c1"}},{"node":{"id":"c3"}},{"node":{"id":"c2"}}]}}}`},
	})
}

// TestRelations resolves relations both ways and nested.
func TestRelations(t *testing.T) {
	runCases(t, []queryCase{
		{"one to many", `{ Customer(id: "c1") { id orders { edges { node { id total } } } } }`, nil, `{"data":{"Customer":{"id":"c1","orders":{"edges":[{"node":{"id":"o1","total":"25"}},{"node":{"id":"o2","total":"0"}}]}}}}`},
		{"one to many where", `{ Customer(id: "c1") { orders(where: {status: {eq: open}}) { edges { node { id } } } } }`, nil, `{"data":{"Customer":{"orders":{"edges":[{"node":{"id":"o2"}}]}}}}`},
		{"many to one", `{ Order(customer_id: "c2", id: "o3") { customer { first_name tier } } }`, nil, `{"data":{"Order":{"customer":{"first_name":"Bob","tier":"basic"}}}}`},
		{"composite many to one", `{ Shipments { edges { node { seq order { id status customer { id } } } } } }`, nil, `{"data":{"Shipments":{"edges":[{"node":{"seq":1,"order":{"id":"o1","status":"paid","customer":{"id":"c1"}}}},{"node":{"seq":2,"order":{"id":"o1","status":"paid","customer":{"id":"c1"}}}}]}}}`},
		{"none", `{ Customer(id: "c3") { orders { edges { node { id } } pageInfo { hasNextPage } } } }`, nil, `{"data":{"Customer":{"orders":{"edges":[],"pageInfo":{"hasNextPage":false}}}}}`},
		{"missing", `{ Customer(id: "zz") { id } }`, nil, `{"data":{"Customer":null}}`},
		{"values", `{ Product(sku: "p1") { price weight_kg stock image category tags attributes discontinued } }`, nil, `{"data":{"Product":{"price":"12.5","weight_kg":0.5,"stock":10,"image":"AQID","category":"books","tags":["a","b"],"attributes":{"color":"red"},"discontinued":false}}}`},
		{"records", `{ Order(customer_id: "c1", id: "o1") { lines { sku quantity unit_price } shipping_address { city country } placed } }`, nil, `{"data":{"Order":{"lines":[{"sku":"p1","quantity":2,"unit_price":"12.5"}],"shipping_address":{"city":"Delft","country":"NL"},"placed":"2024-04-01T00:00:00Z"}}}`},
		{"typename and fragments", `query Q { Customer(id: "c1") { __typename ...F ... on Customer { x: id } } } fragment F on Customer { id email }`, nil, `{"data":{"Customer":{"__typename":"Customer","id":"c1","email":"ada@x.org","x":"c1"}}}`},
		{"skip include", `{ Customer(id: "c1") { id @skip(if: true) email @include(if: true) } }`, nil, `{"data":{"Customer":{"email":"ada@x.org"}}}`},
		{"introspection", `{ __schema { queryType { name } } }`, nil, `{"data":null,"errors":["introspection is not supported: the query _sdl gives the schema"@__schema@1:3]}`},
	})
}

// TestMutations: insert, put (a whole object: a map replaced, not
// merged), update (partial, nested, clearing), delete, and the
// conditions.
func TestMutations(t *testing.T) {
	runCases(t, []queryCase{
		{"insert", `mutation { insertCustomer(object: {id: "c9", first_name: "Di", last_name: "Q", created: "2024-06-01T02:00:00+02:00", tier: gold, newsletter: false}) { id email created _revision _version } }`, nil, `{"data":{"insertCustomer":{"id":"c9","email":null,"created":"2024-06-01T00:00:00Z","_revision":12,"_version":2}}}`},
		{"insert exists", `mutation { insertCustomer(object: {id: "c1", first_name: "Di", last_name: "Q", created: "2024-06-01T00:00:00Z", tier: gold, newsletter: false}) { id } }`, nil, `{"data":{"insertCustomer":null},"errors":["Customer c1 already exists"@insertCustomer@1:12]}`},
		{"insert invalid", `mutation { insertProduct(object: {sku: "p9", title: "T", price: "x", weight_kg: 1, stock: 1, category: books, tags: [], attributes: {}}) { sku } }`, nil, `{"data":{"insertProduct":null},"errors":["object: $.price: \"x\" is not a decimal"@insertProduct@1:12]}`},
		{"insert int64", `mutation($o: ProductInput!) { insertProduct(object: $o) { sku stock discontinued } }`,
			map[string]any{"o": map[string]any{"sku": "p9", "title": "T", "price": 1.5, "weight_kg": 1, "stock": "9007199254740993", "category": "books", "tags": []any{"x"}, "attributes": map[string]any{"k": "v"}}},
			`{"data":{"insertProduct":{"sku":"p9","stock":9007199254740993,"discontinued":false}}}`},
		{"put replaces", `mutation { putProduct(object: {sku: "p1", title: "Book 2", price: "13", weight_kg: 0.5, stock: 9, category: books, tags: ["c"], attributes: {size: "L"}}) { title image tags attributes _revision } }`, nil,
			`{"data":{"putProduct":{"title":"Book 2","image":null,"tags":["c"],"attributes":{"size":"L"},"_revision":12}}}`},
		{"put creates", `mutation { putCustomer(object: {id: "c9", first_name: "Di", last_name: "Q", created: "2024-06-01T00:00:00Z", tier: gold, newsletter: false}) { id _revision } }`, nil, `{"data":{"putCustomer":{"id":"c9","_revision":12}}}`},
		{"put if revision", `mutation { putCustomer(object: {id: "c1", first_name: "Di", last_name: "Q", created: "2024-06-01T00:00:00Z", tier: gold, newsletter: false}, ifRevision: 1) { first_name _revision } }`, nil, `{"data":{"putCustomer":{"first_name":"Di","_revision":12}}}`},
		{"put failed if revision", `mutation { putCustomer(object: {id: "c1", first_name: "Di", last_name: "Q", created: "2024-06-01T00:00:00Z", tier: gold, newsletter: false}, ifRevision: 5) { id } }`, nil, `{"data":{"putCustomer":null},"errors":["Customer c1 does not have revision 5"@putCustomer@1:12]}`},
		{"put invalid", `mutation { putProduct(object: {sku: "p1", title: "T", price: "x", weight_kg: 1, stock: 1, category: books, tags: [], attributes: {}}) { sku } }`, nil, `{"data":{"putProduct":null},"errors":["object: $.price: \"x\" is not a decimal"@putProduct@1:12]}`},
		{"update partial", `mutation { updateOrder(customer_id: "c1", id: "o1", patch: {note: "hi", shipping_address: {city: "Gouda"}}) { note status shipping_address { city street } _revision } }`, nil, `{"data":{"updateOrder":{"note":"hi","status":"paid","shipping_address":{"city":"Gouda","street":"S 1"},"_revision":12}}}`},
		{"update clear", `mutation { updateCustomer(id: "c1", patch: {email: null}) { email first_name } }`, nil, `{"data":{"updateCustomer":{"email":null,"first_name":"Ada"}}}`},
		{"update required null", `mutation { updateCustomer(id: "c1", patch: {first_name: null}) { email } }`, nil, `{"data":{"updateCustomer":null},"errors":["patch: $.first_name: required field missing"@updateCustomer@1:12]}`},
		{"update unchanged", `mutation { updateCustomer(id: "c1", patch: {tier: gold}) { _revision } }`, nil, `{"data":{"updateCustomer":{"_revision":1}}}`},
		{"update if revision", `mutation { updateCustomer(id: "c1", patch: {tier: basic}, ifRevision: 1) { tier _revision } }`, nil, `{"data":{"updateCustomer":{"tier":"basic","_revision":12}}}`},
		{"update failed if revision", `mutation { updateCustomer(id: "c1", patch: {tier: basic}, ifRevision: 2) { tier } }`, nil, `{"data":{"updateCustomer":null},"errors":["Customer c1 has revision 1, not 2"@updateCustomer@1:12]}`},
		{"update missing", `mutation { updateCustomer(id: "zz", patch: {tier: basic}) { tier } }`, nil, `{"data":{"updateCustomer":null},"errors":["Customer zz does not exist"@updateCustomer@1:12]}`},
		{"delete", `mutation { deleteOrder(customer_id: "c1", id: "o2") { id } again: deleteOrder(customer_id: "c1", id: "o2") { id } }`, nil, `{"data":{"deleteOrder":{"id":"o2"},"again":null}}`},
		{"delete missing", `mutation { deleteOrder(customer_id: "c1", id: "zz") { id } }`, nil, `{"data":{"deleteOrder":null}}`},
		{"delete failed if revision", `mutation { deleteCustomer(id: "c2", ifRevision: 1) { id } }`, nil, `{"data":{"deleteCustomer":null},"errors":["Customer c2 has revision 2, not 1"@deleteCustomer@1:12]}`},
		{"delete if revision", `mutation { deleteCustomer(id: "c2", ifRevision: 2) { id } }`, nil, `{"data":{"deleteCustomer":{"id":"c2"}}}`},
		{"serial", `mutation { a: updateCustomer(id: "c3", patch: {last_name: "X"}) { last_name _revision } b: updateCustomer(id: "c3", patch: {last_name: "Y"}) { last_name _revision } }`, nil, `{"data":{"a":{"last_name":"X","_revision":12},"b":{"last_name":"Y","_revision":13}}}`},
	})
}

// TestHistory reads _version and _history after updates.
func TestHistory(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	for _, n := range []string{"A", "B", "C", "D"} {
		run(t, s, d, `mutation { updateCustomer(id: "c1", patch: {last_name: "`+n+`"}) { id } }`, nil)
	}
	got := run(t, s, d, `{ Customer(id: "c1") { last_name _version _revision _history { version revision object { last_name _revision } } } }`, nil)
	want := `{"data":{"Customer":{"last_name":"D","_version":2,"_revision":15,"_history":[{"version":2,"revision":12,"object":{"last_name":"A","_revision":12}},{"version":2,"revision":13,"object":{"last_name":"B","_revision":13}},{"version":2,"revision":14,"object":{"last_name":"C","_revision":14}}]}}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestErrors: validation errors with locations, operation names,
// variables.
func TestErrors(t *testing.T) {
	runCases(t, []queryCase{
		{"syntax", `{ Customer(id: "c1") { id }`, nil, `{"errors":["Expected Name, found <EOF>"@1:28]}`},
		{"unknown field", "{\n  Customer(id: \"c1\") {\n    idd\n  }\n}", nil, `{"errors":["Cannot query field \"idd\" on type \"Customer\". Did you mean \"id\"?"@3:5]}`},
		{"missing argument", `{ Customer { id } }`, nil, `{"errors":["Field \"Customer\" argument \"id\" of type \"String!\" is required, but it was not provided."@1:3]}`},
		{"two operations", `query A { _sdl } query B { Customer(id: "c1") { id } }`, nil, `{"errors":["the query has 2 operations: name one with operationName"]}`},
		{"bad variable", `query($id: String!) { Customer(id: $id) { id } }`, map[string]any{"id": 3}, `{"errors":["cannot use int as String"@variable.id]}`},
		{"missing variable", `query($id: String!) { Customer(id: $id) { id } }`, nil, `{"errors":["must be defined"@variable.id]}`},
		{"subscription", `subscription { _sdl }`, nil, `{"errors":["Schema does not support operation type \"subscription\""@1:1]}`},
	})
	s := exampleSchema(t)
	d := seed(t, s)
	resp := Execute(Request{Schema: s, Data: d, OperationName: "B", Query: `query A { _sdl } query B { Customer(id: "c1") { id } }`})
	if got := respJSON(t, resp); got != `{"data":{"Customer":{"id":"c1"}}}` {
		t.Errorf("operation B: %s", got)
	}
	resp = Execute(Request{Schema: s, Data: d, OperationName: "C", Query: `query A { _sdl }`})
	if got := respJSON(t, resp); got != `{"errors":["the query has no operation named \"C\""]}` {
		t.Errorf("operation C: %s", got)
	}
	b, _ := json.Marshal(resp)
	if string(b) != `{"errors":[{"message":"the query has no operation named \"C\""}]}` {
		t.Errorf("response JSON: %s", b)
	}
}

// TestLimits: depth and cost are refused before any Data call, and the
// call budget stops a query that passes them.
func TestLimits(t *testing.T) {
	s := exampleSchema(t)
	deep := `{ Customer(id: "c1") { orders(first: 1) { edges { node { customer { orders(first: 1) { edges { node { customer { orders(first: 1) { edges { node { id } } } } } } } } } } } } }`
	for _, c := range []struct {
		name, query string
		lim         Limits
		want        string
	}{
		{"depth", deep, Limits{}, `{"errors":["field id is 13 deep, over the limit of 12"@1:148]}`},
		{"cost", `{ Customers(first: 1000) { edges { node { orders(first: 1000) { edges { node { id } } } } } } }`, Limits{},
			`{"errors":["the query costs more than 10000, the limit (each field 1, a scan what it may read, times the first of every connection above it)"@1:65]}`},
		{"small cost", `{ Customers(first: 5) { edges { node { id first_name } } } }`, Limits{MaxCost: 10},
			`{"errors":["the query costs more than 10, the limit (each field 1, a scan what it may read, times the first of every connection above it)"@1:33]}`},
		{"history cost", `{ Customers(first: 10) { edges { node { _history { version } } } } }`, Limits{MaxCost: 40},
			`{"errors":["the query costs more than 40, the limit (each field 1, a scan what it may read, times the first of every connection above it)"@1:52]}`},
	} {
		d := seed(t, s)
		got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: c.query, Limits: c.lim}))
		if got != c.want {
			t.Errorf("%s: got %s\nwant %s", c.name, got, c.want)
		}
		if d.calls != 0 {
			t.Errorf("%s: %d Data calls before the refusal", c.name, d.calls)
		}
	}
	d := seed(t, s)
	got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: `{ Customers { edges { node { id orders { edges { node { id } } } } } } }`, Limits: Limits{MaxCalls: 2}}))
	// The connection and its edges are non-null: the error nulls all of it.
	want := `{"data":null,"errors":["the request made 2 storage calls, the limit"@Customers.edges[1].node.orders@1:33]}`
	if got != want || d.calls != 2 {
		t.Errorf("call budget: %d calls, got %s\nwant %s", d.calls, got, want)
	}
}

type rights struct{}

func (rights) CanRead(typ string) bool { return typ != "Product" }
func (rights) CanReadField(typ, field string) bool {
	return !(typ == "Customer" && (field == "email" || field == "last_name"))
}
func (r rights) CanReadWhole(typ string) bool       { return r.CanRead(typ) && typ != "Customer" }
func (rights) CanWrite(typ string) bool             { return typ == "Order" }
func (rights) CanWriteField(typ, field string) bool { return typ == "Order" }
func (rights) CanReadSchema() bool                  { return false }

// TestRights: a type or field the caller may not read is an error at
// its path; writes need the type's write right.
func TestRights(t *testing.T) {
	s := exampleSchema(t)
	for _, c := range []struct{ query, want string }{
		{`{ Customer(id: "c1") { id email } }`, `{"data":{"Customer":{"id":"c1","email":null}},"errors":["not allowed to read Customer.email"@Customer.email@1:27]}`},
		{`{ Customer(id: "c1") { id last_name } }`, `{"data":{"Customer":null},"errors":["not allowed to read Customer.last_name"@Customer.last_name@1:27]}`},
		{`{ Product(sku: "p1") { sku } }`, `{"data":{"Product":null},"errors":["not allowed to read Product"@Product@1:3]}`},
		{`mutation { updateCustomer(id: "c1", patch: {tier: basic}) { id } }`, `{"data":{"updateCustomer":null},"errors":["patch: not allowed to write Customer.tier"@updateCustomer@1:12]}`},
		{`mutation { updateOrder(customer_id: "c1", id: "o1", patch: {note: "x"}) { note } }`, `{"data":{"updateOrder":{"note":"x"}}}`},
	} {
		d := seed(t, s)
		got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: c.query, Rights: rights{}}))
		if got != c.want {
			t.Errorf("%s\n got: %s\nwant: %s", c.query, got, c.want)
		}
	}
}

// TestOrderByPaging pages through more objects than a page holds, in an
// index's order both ways (the objects with a null in it last, first
// descending), in pages of 1000 over short pages of storage: every
// object comes once, in order.
func TestOrderByPaging(t *testing.T) {
	s := exampleSchema(t)
	d := newMem()
	d.pageCap = 300
	const n = 2500
	var withEmail, without []string
	for i := range n {
		id := fmt.Sprintf("c%04d", i)
		email := "null"
		if i%3 != 0 {
			// Emails in the reverse order of the keys.
			email = fmt.Sprintf(`"e%04d@x.org"`, n-i)
			withEmail = append([]string{id}, withEmail...)
		} else {
			without = append(without, id)
		}
		d.put(t, s, "Customer", fmt.Sprintf(`{"id":%q,"first_name":"F","last_name":"L","email":%s,"created":"2024-01-01T00:00:00Z","tier":"basic","newsletter":false}`, id, email))
	}
	asc := append(slices.Clone(withEmail), without...)
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	for _, c := range []struct {
		direction string
		want      []string
	}{{"ASC", asc}, {"DESC", desc}} {
		var got []string
		var after any // null: from the first
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatalf("%s: no end after %d pages", c.direction, page)
			}
			q := `query($after: String) { Customers(first: 1000, after: $after, orderBy: {by: by_email, direction: ` + c.direction + `}) {
				edges { node { id } } pageInfo { hasNextPage endCursor } } }`
			resp := Execute(Request{Schema: s, Data: d, Query: q, Variables: map[string]any{"after": after},
				Limits: Limits{MaxObjectsRead: 10 * n}})
			if len(resp.Errors) > 0 {
				t.Fatalf("%s page %d: %v", c.direction, page, resp.Errors)
			}
			var v struct {
				Customers struct {
					Edges    []struct{ Node struct{ ID string } }
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
			if err := json.Unmarshal(resp.Data, &v); err != nil {
				t.Fatal(err)
			}
			for _, e := range v.Customers.Edges {
				got = append(got, e.Node.ID)
			}
			if !v.Customers.PageInfo.HasNextPage {
				break
			}
			after = v.Customers.PageInfo.EndCursor
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %d objects listed, want %d in order (first %q, want %q)", c.direction, len(got), len(c.want), got[:min(3, len(got))], c.want[:3])
		}
	}
}
