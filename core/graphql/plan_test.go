package graphql

import (
	"encoding/json"
	"testing"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/model"
)

// TestListPlan: a listing in key order whose filters fix every field of
// an index (a one-to-many relation's, or a where's eq) asks storage for
// that index's entries of one key, and lists what the scan would; other
// operators, a part of an index and an order by an index do not, and
// the cursors of a listing through the index page through it.
func TestListPlan(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	order, _ := s.Model().Type("Order")
	exact := func(t *model.Type, index string, values ...any) api.Order {
		key, ok, err := t.IndexKey(index, values)
		if err != nil || !ok {
			panic(err)
		}
		return api.Order{Index: index, Exact: true, Key: key}
	}
	byCustomer := exact(order, "by_customer", "c1")
	for _, c := range []struct {
		name, query string
		want        string
		order       api.Order // the last List call's
	}{
		{"a relation", `{ Customer(id: "c1") { orders { edges { node { id } } } } }`,
			`{"data":{"Customer":{"orders":{"edges":[{"node":{"id":"o1"}},{"node":{"id":"o2"}}]}}}}`, byCustomer},
		{"a relation, descending", `{ Customer(id: "c1") { orders(orderBy: {by: _key, direction: DESC}) { edges { node { id } } } } }`,
			`{"data":{"Customer":{"orders":{"edges":[{"node":{"id":"o2"}},{"node":{"id":"o1"}}]}}}}`,
			api.Order{Index: "by_customer", Desc: true, Exact: true, Key: byCustomer.Key}},
		{"a relation and a where", `{ Customer(id: "c1") { orders(where: {status: {eq: open}}) { edges { node { id } } } } }`,
			`{"data":{"Customer":{"orders":{"edges":[{"node":{"id":"o2"}}]}}}}`, byCustomer},
		{"where eq", `{ Orders(where: {customer_id: {eq: "c1"}}) { edges { node { id } } } }`,
			`{"data":{"Orders":{"edges":[{"node":{"id":"o1"}},{"node":{"id":"o2"}}]}}}`, byCustomer},
		{"where eq on a unique index: not read", `{ Customers(where: {email: {eq: "cy@y.org"}}) { edges { node { id } } } }`,
			`{"data":{"Customers":{"edges":[{"node":{"id":"c3"}}]}}}`, api.Order{}},
		{"where eq on no object's key", `{ Orders(where: {customer_id: {eq: "c9"}}) { edges { node { id } } } }`,
			`{"data":{"Orders":{"edges":[]}}}`, exact(order, "by_customer", "c9")},
		{"where ne", `{ Orders(where: {customer_id: {ne: "c1"}}) { edges { node { id } } } }`,
			`{"data":{"Orders":{"edges":[{"node":{"id":"o3"}}]}}}`, api.Order{}},
		{"where in", `{ Orders(where: {customer_id: {in: ["c2"]}}) { edges { node { id } } } }`,
			`{"data":{"Orders":{"edges":[{"node":{"id":"o3"}}]}}}`, api.Order{}},
		{"where prefix", `{ Customers(where: {email: {prefix: "cy@"}}) { edges { node { id } } } }`,
			`{"data":{"Customers":{"edges":[{"node":{"id":"c3"}}]}}}`, api.Order{}},
		{"where eq inside an or", `{ Orders(where: {or: [{customer_id: {eq: "c2"}}]}) { edges { node { id } } } }`,
			`{"data":{"Orders":{"edges":[{"node":{"id":"o3"}}]}}}`, api.Order{}},
		{"an order by an index", `{ Orders(where: {customer_id: {eq: "c1"}}, orderBy: {by: by_status}) { edges { node { id } } } }`,
			`{"data":{"Orders":{"edges":[{"node":{"id":"o2"}},{"node":{"id":"o1"}}]}}}`, api.Order{Index: "by_status"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d.orders = nil
			if got := run(t, s, d, c.query, nil); got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			if len(d.orders) == 0 || d.orders[len(d.orders)-1] != c.order {
				t.Errorf("List called with %+v, want %+v last", d.orders, c.order)
			}
		})
	}

	// One at a time through the index's cursors.
	var ids []string
	vars := map[string]any{}
	for range 4 {
		resp := Execute(Request{Schema: s, Data: d, Variables: vars,
			Query: `query($a: String) { Customer(id: "c1") { orders(first: 1, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }`})
		var out struct {
			Customer struct {
				Orders struct {
					Edges []struct {
						Node struct{ ID string }
					}
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
		}
		if len(resp.Errors) > 0 || json.Unmarshal(resp.Data, &out) != nil {
			t.Fatalf("paging: %s", respJSON(t, resp))
		}
		for _, e := range out.Customer.Orders.Edges {
			ids = append(ids, e.Node.ID)
		}
		if !out.Customer.Orders.PageInfo.HasNextPage {
			break
		}
		vars["a"] = out.Customer.Orders.PageInfo.EndCursor
	}
	if len(ids) != 2 || ids[0] != "o1" || ids[1] != "o2" {
		t.Errorf("one at a time: %q, want o1, o2", ids)
	}
}

// TestListPlanPartialIndex: an eq on some fields of an index of two
// does not read it; on both, it does.
func TestListPlanPartialIndex(t *testing.T) {
	m, err := model.Parse("m.yaml", []byte(`
types:
  Line:
    key: [id]
    indexes:
      - {name: by_ab, fields: [a, b]}
    versions:
      - version: 1
        fields:
          id: string
          a: string
          b: int
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSchema(m)
	if err != nil {
		t.Fatal(err)
	}
	d := newMem()
	d.put(t, s, "Line", `{"id":"l1","a":"x","b":1}`)
	d.put(t, s, "Line", `{"id":"l2","a":"x","b":2}`)
	line, _ := m.Type("Line")
	key, _, _ := line.IndexKey("by_ab", []any{"x", int64(2)})
	for _, c := range []struct {
		where string
		want  string
		order api.Order
	}{
		{`{a: {eq: "x"}}`, `{"data":{"Lines":{"edges":[{"node":{"id":"l1"}},{"node":{"id":"l2"}}]}}}`, api.Order{}},
		{`{b: {eq: 2}}`, `{"data":{"Lines":{"edges":[{"node":{"id":"l2"}}]}}}`, api.Order{}},
		{`{a: {eq: "x"}, b: {eq: 2}}`, `{"data":{"Lines":{"edges":[{"node":{"id":"l2"}}]}}}`, api.Order{Index: "by_ab", Exact: true, Key: key}},
	} {
		d.orders = nil
		if got := run(t, s, d, `{ Lines(where: `+c.where+`) { edges { node { id } } } }`, nil); got != c.want {
			t.Errorf("%s: got %s, want %s", c.where, got, c.want)
		}
		if len(d.orders) != 1 || d.orders[0] != c.order {
			t.Errorf("%s: List called with %+v, want %+v", c.where, d.orders, c.order)
		}
	}
}
