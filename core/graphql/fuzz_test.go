package graphql

import (
	"encoding/json"
	"testing"

	"pgregory.net/rapid"
)

// FuzzExecute: no query or variables make Execute panic, every response
// encodes, and the Data calls stay within the budget.
func FuzzExecute(f *testing.F) {
	for _, q := range []string{
		`{ Customers(where: {or: [{id: {eq: "c1"}}, {tier: {eq: basic}}]}) { edges { node { id orders { edges { node { id customer { id } } } } } } pageInfo { endCursor } } }`,
		`query($w: OrderWhere, $f: Int) { Orders(where: $w, first: $f, orderBy: {by: by_status, direction: DESC}) { edges { cursor node { id total lines { sku } } } } }`,
		`mutation($p: CustomerPatch!) { updateCustomer(id: "c1", patch: $p, ifRevision: 1) { id _history { version object { id } } } }`,
		`mutation { insertOrder(object: {id: "o9", customer_id: "c1", placed: "2024-01-01T00:00:00Z", status: open, lines: [], total: "1", shipping_address: {street: "a", city: "b", zip: "c"}}) { id } deleteOrder(customer_id: "c1", id: "o9") { id } }`,
		`query A { ...F } fragment F on Query { Product(sku: "p1") { __typename price } }`,
		`{ Shipment(customer_id: "c1", order_id: "o1", seq: "1") { order { shipments(first: 0) { pageInfo { hasNextPage } } } } }`,
		`{ __schema { types { name } } }`, `{`, `query($x: Int64) { Products(where: {stock: {in: [$x, 1]}}) { edges { node { sku } } } }`,
	} {
		f.Add(q, `{"w": {"status": {"in": ["open"]}}, "f": 2, "p": {"email": null}, "x": "3"}`)
	}
	s := exampleSchema(f)
	f.Fuzz(func(t *testing.T, query, vars string) {
		var v map[string]any
		_ = json.Unmarshal([]byte(vars), &v)
		d := seed(t, s)
		d.pageCap = 2
		lim := Limits{MaxDepth: 8, MaxCost: 500, MaxCalls: 50}
		resp := Execute(Request{Schema: s, Query: query, Variables: v, Data: d, Limits: lim})
		if d.calls > lim.MaxCalls {
			t.Fatalf("%d Data calls, over %d", d.calls, lim.MaxCalls)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatal(err)
		}
		if resp.Data != nil && !json.Valid(resp.Data) {
			t.Fatalf("invalid data %s", resp.Data)
		}
	})
}

// TestPagingProperty: following the cursors of any where and first, on
// storage that answers short pages, lists every match exactly once, in
// key order.
func TestPagingProperty(t *testing.T) {
	s := exampleSchema(t)
	rapid.Check(t, func(rt *rapid.T) {
		d := newMem()
		n := rapid.IntRange(0, 30).Draw(rt, "n")
		for i := range n {
			stock := rapid.IntRange(-5, 5).Draw(rt, "stock")
			cat := rapid.SampledFrom([]string{"books", "tools", "toys"}).Draw(rt, "cat")
			d.put(rt, s, "Product", `{"sku":"p`+string(rune('a'+i/26))+string(rune('a'+i%26))+`","title":"t","price":"1","weight_kg":1,"stock":`+itoa(stock)+`,"category":"`+cat+`","tags":[],"attributes":{}}`)
		}
		d.pageCap = rapid.IntRange(1, 5).Draw(rt, "pageCap")
		first := rapid.IntRange(1, 7).Draw(rt, "first")
		where := rapid.SampledFrom([]string{
			`{}`, `{stock: {gt: 0}}`, `{or: [{stock: {lt: -2}}, {category: {eq: toys}}]}`,
			`{category: {ne: books}, or: [{stock: {in: [1, 2, 3]}}, {and: [{stock: {le: 0}}]}]}`,
		}).Draw(rt, "where")
		order := rapid.SampledFrom([]string{`{}`, `{by: by_category}`, `{direction: DESC}`}).Draw(rt, "order")
		if order != `{}` {
			// A sorted listing reads every match in at most maxRounds pages.
			d.pageCap = 5
		}
		q := `query($a: String) { Products(where: ` + where + `, orderBy: ` + order + `, first: ` + itoa(first) + `, after: $a) { edges { node { sku } } pageInfo { hasNextPage endCursor } } }`
		short := d.pageCap
		d.pageCap = 1000 // the reference reads everything in one page
		all := run(rt, s, d, `{ Products(where: `+where+`, orderBy: `+order+`, first: 1000) { edges { node { sku } } } }`, nil)
		var want struct {
			Products struct {
				Edges []struct{ Node struct{ Sku string } }
			}
		}
		decode(rt, all, &want)
		d.pageCap = short
		var got []string
		vars := map[string]any{}
		for i := 0; ; i++ {
			if i > 100 {
				rt.Fatal("no end")
			}
			var page struct {
				Products struct {
					Edges    []struct{ Node struct{ Sku string } }
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
			decode(rt, run(rt, s, d, q, vars), &page)
			for _, e := range page.Products.Edges {
				got = append(got, e.Node.Sku)
			}
			if !page.Products.PageInfo.HasNextPage {
				break
			}
			vars["a"] = page.Products.PageInfo.EndCursor
		}
		if len(got) != len(want.Products.Edges) {
			rt.Fatalf("paged %v, want %d objects", got, len(want.Products.Edges))
		}
		for i, e := range want.Products.Edges {
			if got[i] != e.Node.Sku {
				rt.Fatalf("paged %v, want %v", got, want.Products.Edges)
			}
		}
		// And key order matches a brute-force filter on the ascending case.
		if order == `{}` {
			for i := 1; i < len(got); i++ {
				if got[i-1] >= got[i] {
					rt.Fatalf("out of order: %v", got)
				}
			}
		}
	})
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func decode(t interface{ Fatalf(string, ...any) }, resp string, v any) {
	var r struct {
		Data   json.RawMessage
		Errors []string
	}
	if err := json.Unmarshal([]byte(resp), &r); err != nil || r.Data == nil || len(r.Errors) > 0 {
		t.Fatalf("response %s (%v)", resp, err)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("%s: %v", r.Data, err)
	}
}
