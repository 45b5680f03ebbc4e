package graphql

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/model"
)

// aliases is a selection of n aliases of field.
func aliases(n int, field string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "a%d: %s ", i, field)
	}
	return b.String()
}

// TestResponseBudget: a query whose data grows past MaxResponseBytes
// fails as a whole with an error at the field that crossed it, and
// resolves no field after it.
func TestResponseBudget(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	big := strings.Repeat("x", 900<<10)
	d.put(t, s, "Customer", `{"id":"big","first_name":"`+big+`","last_name":"L","created":"2024-01-01T00:00:00Z","tier":"gold","newsletter":false}`)
	d.calls = 0
	// 40 copies of 900 KiB is 36 MB, over the default 16 MiB.
	q := `{ Customer(id: "big") { ` + aliases(40, "first_name") + ` } }`
	resp := Execute(Request{Schema: s, Data: d, Query: q})
	if len(resp.Data) > 100 || len(resp.Errors) != 1 || resp.Errors[0].Message != "the response is over 16777216 bytes, the limit" ||
		resp.Errors[0].Path.String() != "Customer.a18" {
		t.Errorf("aliases of a large field: %d bytes of data, errors %v", len(resp.Data), resp.Errors)
	}
	// Each root field reads: none after the one over the budget.
	q = `{ ` + aliases(40, `Customer(id: "big") { first_name }`) + ` }`
	d.calls = 0
	resp = Execute(Request{Schema: s, Data: d, Query: q, Limits: Limits{MaxResponseBytes: 2 << 20}})
	if got := respJSON(t, resp); got != `{"data":null,"errors":["the response is over 2097152 bytes, the limit"@a2.first_name@1:107]}` || d.calls != 3 {
		t.Errorf("root fields: %d Data calls, %s", d.calls, got)
	}
	// Under the budget, nothing changes.
	if got := run(t, s, d, `{ Customer(id: "c1") { a: id b: id } }`, nil); got != `{"data":{"Customer":{"a":"c1","b":"c1"}}}` {
		t.Errorf("small: %s", got)
	}
}

// TestSDLCost: _sdl costs its size in KiB, so a query cannot ask for
// many copies of it.
func TestSDLCost(t *testing.T) {
	s := exampleSchema(t)
	kib := len(s.SDL()) >> 10
	if kib < 2 {
		t.Fatalf("the example's SDL is %d bytes: too small to test with", len(s.SDL()))
	}
	for _, c := range []struct {
		query string
		cost  int
		ok    bool
	}{
		{`{ _sdl }`, kib + 1, true},
		{`{ _sdl }`, kib, false},
		{`{ ` + aliases(1000, "_sdl") + ` }`, DefaultMaxCost, false},
	} {
		d := seed(t, s)
		resp := Execute(Request{Schema: s, Data: d, Query: c.query, Limits: Limits{MaxCost: c.cost}})
		if ok := len(resp.Errors) == 0; ok != c.ok || !ok && !strings.HasPrefix(resp.Errors[0].Message, "the query costs more than") {
			t.Errorf("%.40s at cost %d: errors %v, want ok %v", c.query, c.cost, resp.Errors, c.ok)
		}
	}
}

// TestWhereBounds: every where object counts against maxWhereTerms,
// empty ones too, and an and or or list has at most maxWhereItems.
func TestWhereBounds(t *testing.T) {
	s := exampleSchema(t)
	empties := func(n int) []any {
		items := make([]any, n)
		for i := range items {
			items[i] = map[string]any{}
		}
		return items
	}
	// Nested lists of 50 empty objects: 1 + 6×(1+50) objects in all.
	nested := map[string]any{}
	for range 6 {
		nested = map[string]any{"and": append(empties(50), nested)}
	}
	q := `query($w: CustomerWhere) { Customers(where: $w) { edges { node { id } } } }`
	for _, c := range []struct {
		name string
		w    map[string]any
		want string
	}{
		{"a long and", map[string]any{"and": empties(300000)}, `{"data":null,"errors":["where: and: 300000 items, at most 64"@Customers@1:28]}`},
		{"a long or", map[string]any{"or": empties(65)}, `{"data":null,"errors":["where: or: 65 items, at most 64"@Customers@1:28]}`},
		{"many empty objects", nested, `{"data":null,"errors":["where: more than 256 filters and where objects"@Customers@1:28]}`},
		{"a few", map[string]any{"and": empties(64), "or": []any{map[string]any{"id": map[string]any{"eq": "c2"}}}},
			`{"data":{"Customers":{"edges":[{"node":{"id":"c2"}}]}}}`},
	} {
		d := seed(t, s)
		if got := run(t, s, d, q, map[string]any{"w": c.w}); got != c.want {
			t.Errorf("%s: got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// TestScanCost: a listing whose where has an or costs the batches it may
// read, whatever its first, and so does one ordered by an index (its
// last pages read the whole type for the objects without an entry),
// once for both; one ordered by _key DESC costs no more than one in key
// order; and MaxObjectsRead fails a request that reads more.
func TestScanCost(t *testing.T) {
	s := exampleSchema(t)
	for _, c := range []struct {
		name, query string
		ok          bool
	}{
		// Past the index's last entry, its pages read the whole type.
		{"by an index", `{ ` + aliases(7, `Products(first: 0, orderBy: {by: by_category}) { __typename }`) + ` }`, false},
		{"by an index, six times", `{ ` + aliases(6, `Products(first: 0, orderBy: {by: by_category}) { __typename }`) + ` }`, true},
		{"by an index DESC", `{ ` + aliases(7, `Products(first: 0, orderBy: {by: by_category, direction: DESC}) { __typename }`) + ` }`, false},
		{"by an index in a variable", `query($o: ProductOrder) { ` + aliases(7, `Products(first: 0, orderBy: $o) { __typename }`) + ` }`, false},
		{"key DESC", `{ ` + aliases(100, `Products(first: 0, orderBy: {direction: DESC}) { __typename }`) + ` }`, true},
		{"by an index with an or", `{ ` + aliases(7, `Products(first: 0, orderBy: {by: by_category}, where: {or: [{stock: {gt: 1}}]}) { __typename }`) + ` }`, false},
		// Charged once for both.
		{"by an index with an or, six times", `{ ` + aliases(6, `Products(first: 0, orderBy: {by: by_category}, where: {or: [{stock: {gt: 1}}]}) { __typename }`) + ` }`, true},
		{"an or", `{ ` + aliases(7, `Products(first: 0, where: {or: [{stock: {gt: 1}}]}) { __typename }`) + ` }`, false},
		{"an or in an and", `{ ` + aliases(7, `Products(first: 0, where: {and: [{or: [{stock: {gt: 1}}]}]}) { __typename }`) + ` }`, false},
		{"key order", `{ ` + aliases(100, `Products(first: 0, orderBy: {by: _key}, where: {stock: {gt: 1}}) { __typename }`) + ` }`, true},
	} {
		d := seed(t, s)
		vars := map[string]any{"o": map[string]any{"by": "by_category"}}
		resp := Execute(Request{Schema: s, Data: d, Query: c.query, Variables: vars})
		if ok := len(resp.Errors) == 0; ok != c.ok || !ok && (!strings.HasPrefix(resp.Errors[0].Message, "the query costs more than") || d.calls != 0) {
			t.Errorf("%s: %d Data calls, errors %v, want ok %v", c.name, d.calls, resp.Errors, c.ok)
		}
	}
	d := seed(t, s)
	q := `{ Products(orderBy: {by: by_category}) { edges { node { sku } } } Customers { edges { node { id } } } }`
	got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: q, Limits: Limits{MaxObjectsRead: 5}}))
	if want := `{"data":null,"errors":["the request read more than 5 objects, the limit"@Customers@1:67]}`; got != want {
		t.Errorf("objects read: got %s\nwant %s", got, want)
	}
}

// TestSelectionBound: a document of more than maxSelections selections
// is refused before validation, which compares them pairwise.
func TestSelectionBound(t *testing.T) {
	s := exampleSchema(t)
	for _, c := range []struct {
		name, query string
		ok          bool
	}{
		{"many", `{ Customer(id: "c1") { ` + strings.Repeat("id ", 9000) + ` } }`, false},
		{"in a fragment", `{ Customer(id: "c1") { ...F } } fragment F on Customer { ` + strings.Repeat("id ", maxSelections) + ` }`, false},
		{"at the bound", `{ Customer(id: "c1") { ` + strings.Repeat("id ", maxSelections-1) + ` } }`, true},
	} {
		d := seed(t, s)
		start := time.Now()
		resp := Execute(Request{Schema: s, Data: d, Query: c.query})
		if ok := len(resp.Errors) == 0; ok != c.ok || !ok && !strings.HasPrefix(resp.Errors[0].Message, "the query has more than 2000 fields") {
			t.Errorf("%s: errors %v, want ok %v", c.name, resp.Errors, c.ok)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s: took %v", c.name, el)
		}
	}
}

// TestRelationShortPage: a one-to-one relation on fields that are not
// the key pages on while storage answers short pages with More.
func TestRelationShortPage(t *testing.T) {
	m, err := model.Parse("badges.yaml", []byte(`
types:
  Person:
    key: [id]
    relations:
      - {name: badge, kind: one-to-one, type: Badge, fields: {email: owner}}
    versions:
      - version: 1
        fields: {id: string, email: string}
  Badge:
    key: [id]
    versions:
      - version: 1
        fields: {id: string, owner: string}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSchema(m)
	if err != nil {
		t.Fatal(err)
	}
	d := newMem()
	d.put(t, s, "Person", `{"id":"p1","email":"y"}`)
	for i, owner := range []string{"a", "b", "c", "y"} {
		d.put(t, s, "Badge", fmt.Sprintf(`{"id":"b%d","owner":%q}`, i, owner))
	}
	d.pageCap = 1
	if got := run(t, s, d, `{ Person(id: "p1") { badge { id } } }`, nil); got != `{"data":{"Person":{"badge":{"id":"b3"}}}}` {
		t.Errorf("got %s", got)
	}
}

// TestSchemaRight: _sdl needs Rights.CanReadSchema.
func TestSchemaRight(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: `{ _sdl }`, Rights: rights{}}))
	if want := `{"data":null,"errors":["not allowed to read the schema"@_sdl@1:3]}`; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

// cancelling is a Data that cancels the request's context on its first
// Get, as a deadline passing would.
type cancelling struct {
	*memData
	cancel context.CancelFunc
}

func (c cancelling) Get(typ, pk string) (Stored, bool, error) {
	c.cancel()
	return c.memData.Get(typ, pk)
}

// TestContext: a request whose context is done resolves no more fields
// and fails.
func TestContext(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: `{ Customer(id: "c1") { id } }`, Context: ctx}))
	if got != `{"errors":["the request was cancelled"]}` || d.calls != 0 {
		t.Errorf("done before: %d Data calls, %s", d.calls, got)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	q := `{ a: Customer(id: "c1") { id } b: Customer(id: "c2") { id } c: Customers { edges { node { id } } } }`
	got = respJSON(t, Execute(Request{Schema: s, Data: cancelling{d, cancel}, Query: q, Context: ctx}))
	if got != `{"data":null,"errors":["the request was cancelled"@a.id@1:27]}` || d.calls != 1 {
		t.Errorf("done during: %d Data calls, %s", d.calls, got)
	}
}

// TestMutationBound: a request of more than maxMutations mutation fields
// is refused before any write.
func TestMutationBound(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	q := `mutation { ` + aliases(maxMutations+1, `deleteOrder(customer_id: "c1", id: "zz") { id }`) + ` }`
	got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: q}))
	if got != `{"errors":["the request has 101 mutation fields, over the limit of 100"@1:1]}` || d.calls != 0 {
		t.Errorf("%d Data calls, %s", d.calls, got)
	}
	q = `mutation { ` + aliases(maxMutations, `deleteOrder(customer_id: "c1", id: "zz") { id }`) + ` }`
	if resp := Execute(Request{Schema: s, Data: d, Query: q}); len(resp.Errors) != 0 {
		t.Errorf("%d mutations: %v", maxMutations, resp.Errors)
	}
}
