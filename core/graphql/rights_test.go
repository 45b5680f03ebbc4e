package graphql

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/api"
)

// fieldRights grants by type: the fields listed, or every field for a
// type listed with none. A type not listed is not granted at all. Key
// fields are not special: the caller (core/live) lists them.
type fieldRights struct {
	read, write map[string][]string
}

func (r fieldRights) CanRead(typ string) bool { _, ok := r.read[typ]; return ok }
func (r fieldRights) CanReadField(typ, field string) bool {
	fs := r.read[typ]
	return len(fs) == 0 || slices.Contains(fs, field)
}
func (r fieldRights) CanReadWhole(typ string) bool {
	fs, ok := r.read[typ]
	return ok && len(fs) == 0
}
func (r fieldRights) CanWrite(typ string) bool {
	fs, ok := r.write[typ]
	return ok && len(fs) == 0
}
func (r fieldRights) CanWriteField(typ, field string) bool {
	fs, ok := r.write[typ]
	return ok && (len(fs) == 0 || slices.Contains(fs, field))
}
func (fieldRights) CanReadSchema() bool { return false }

// crm reads a customer's id and names and its orders, Orders whole but
// for their total, and writes Customer.tier and Customer.newsletter.
var crm = fieldRights{
	read: map[string][]string{
		"Customer": {"id", "first_name", "last_name", "orders", "_revision"},
		"Order":    {"id", "customer_id", "status", "customer"},
	},
	write: map[string][]string{"Customer": {"tier", "newsletter"}},
}

// TestFieldRights: a field the caller may not read cannot be selected,
// filtered on, ordered by through an index, or joined on by a relation;
// an update may write only the fields the caller writes; and none of
// the refused requests reaches storage.
func TestFieldRights(t *testing.T) {
	s := exampleSchema(t)
	for _, c := range []struct {
		name  string
		query string
		vars  map[string]any
		want  string
		calls int // Data calls made
	}{
		{"fields it reads", `{ Customer(id: "c1") { id first_name } }`, nil,
			`{"data":{"Customer":{"id":"c1","first_name":"Ada"}}}`, 1},
		{"a field it does not read", `{ Customer(id: "c1") { id email } }`, nil,
			`{"data":{"Customer":{"id":"c1","email":null}},"errors":["not allowed to read Customer.email"@Customer.email@1:27]}`, 1},
		{"a filter on a field it reads", `{ Customers(where: {first_name: {eq: "Bob"}}) { edges { node { id } } } }`, nil,
			`{"data":{"Customers":{"edges":[{"node":{"id":"c2"}}]}}}`, 1},
		{"a filter on a field it does not read", `{ Customers(where: {email: {prefix: "ada"}}) { edges { node { id } } } }`, nil,
			`{"data":null,"errors":["where: email: not allowed to read Customer.email, so not to filter on it"@Customers@1:3]}`, 0},
		{"a filter in an or", `{ Customers(where: {or: [{id: {eq: "c1"}}, {and: {tier: {eq: gold}}}]}) { edges { node { id } } } }`, nil,
			`{"data":null,"errors":["where: tier: not allowed to read Customer.tier, so not to filter on it"@Customers@1:3]}`, 0},
		{"a filter in variables", `query($w: CustomerWhere) { Customers(where: $w) { edges { node { id } } } }`,
			map[string]any{"w": map[string]any{"and": []any{map[string]any{"newsletter": map[string]any{"eq": true}}}}},
			`{"data":null,"errors":["where: newsletter: not allowed to read Customer.newsletter, so not to filter on it"@Customers@1:28]}`, 0},
		{"a null filter says nothing", `{ Customers(where: {email: null, id: {eq: "c3"}}) { edges { node { id } } } }`, nil,
			`{"data":{"Customers":{"edges":[{"node":{"id":"c3"}}]}}}`, 1},
		{"an order by an index of a field it does not read", `{ Customers(orderBy: {by: by_email}) { edges { node { id } } } }`, nil,
			`{"data":null,"errors":["orderBy: ordering by index by_email takes read of every field of Customer, which the caller lacks (order by _key instead)"@Customers@1:3]}`, 0},
		// The index's entries may hold fields it had before a model
		// revision: an order by it takes read of the whole type.
		{"an order by an index of a field it reads", `{ Orders(orderBy: {by: by_status}) { edges { node { id } } } }`, nil,
			`{"data":null,"errors":["orderBy: ordering by index by_status takes read of every field of Order, which the caller lacks (order by _key instead)"@Orders@1:3]}`, 0},
		{"an order by the key", `{ Orders(orderBy: {by: _key, direction: DESC}) { edges { node { id } } } }`, nil,
			`{"data":{"Orders":{"edges":[{"node":{"id":"o3"}},{"node":{"id":"o2"}},{"node":{"id":"o1"}}]}}}`, 1},
		{"a filter of a relation's listing", `{ Customer(id: "c1") { orders(where: {total: {gt: "1"}}) { edges { node { id } } } } }`, nil,
			`{"data":{"Customer":null},"errors":["where: total: not allowed to read Order.total, so not to filter on it"@Customer.orders@1:24]}`, 1},
		{"a relation on fields it reads", `{ Order(customer_id: "c1", id: "o1") { customer { first_name } } }`, nil,
			`{"data":{"Order":{"customer":{"first_name":"Ada"}}}}`, 2},
		{"an update of fields it writes", `mutation { updateCustomer(id: "c2", patch: {tier: gold, newsletter: true}) { id _revision } }`, nil,
			`{"data":{"updateCustomer":{"id":"c2","_revision":12}}}`, 2},
		{"an update of a field it does not write", `mutation { updateCustomer(id: "c2", patch: {tier: gold, email: "b@x.org"}) { id } }`, nil,
			`{"data":{"updateCustomer":null},"errors":["patch: not allowed to write Customer.email"@updateCustomer@1:12]}`, 0},
		{"an update of no field", `mutation { updateCustomer(id: "c2", patch: {}) { id } }`, nil,
			`{"data":{"updateCustomer":null},"errors":["not allowed to write Customer: an update whose patch names no field takes write of the whole type"@updateCustomer@1:12]}`, 0},
		{"an insert, which writes every field", `mutation { insertCustomer(object: {id: "c9", first_name: "A", last_name: "B", created: "2024-01-01T00:00:00Z", tier: basic, newsletter: false}) { id } }`, nil,
			`{"data":{"insertCustomer":null},"errors":["not allowed to write Customer"@insertCustomer@1:12]}`, 0},
		{"a delete", `mutation { deleteCustomer(id: "c2") { id } }`, nil,
			`{"data":{"deleteCustomer":null},"errors":["not allowed to write Customer"@deleteCustomer@1:12]}`, 0},
		// tier is c1's already: a caller that may not read it learns that
		// from nothing, for the object is written anyway.
		{"an update that changes nothing of a field it does not read", `mutation { updateCustomer(id: "c1", patch: {tier: gold}) { _revision } }`, nil,
			`{"data":{"updateCustomer":{"_revision":12}}}`, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := seed(t, s)
			got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: c.query, Variables: c.vars, Rights: crm}))
			if got != c.want || d.calls != c.calls {
				t.Errorf("%s\n got: %s (%d calls)\nwant: %s (%d calls)", c.query, got, d.calls, c.want, c.calls)
			}
		})
	}
}

// TestFieldRightsRelation: a relation joined on a field the caller may
// not read, on either side, is refused before it reads its target.
func TestFieldRightsRelation(t *testing.T) {
	s := exampleSchema(t)
	for _, c := range []struct {
		name   string
		rights fieldRights
		query  string
		want   string
	}{
		{"the target's field", fieldRights{read: map[string][]string{"Customer": {"id", "orders"}, "Order": {"id"}}},
			`{ Customer(id: "c1") { orders { edges { node { id } } } } }`,
			`{"data":{"Customer":null},"errors":["relation orders: not allowed to read Order.customer_id, by which it is found"@Customer.orders@1:24]}`},
		{"the source's field", fieldRights{read: map[string][]string{"Order": {"id", "customer"}, "Customer": nil}},
			`{ Order(customer_id: "c1", id: "o1") { id customer { id } } }`,
			`{"data":{"Order":{"id":"o1","customer":null}},"errors":["relation customer: not allowed to read Order.customer_id, by which it finds its Customer"@Order.customer@1:43]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := seed(t, s)
			got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: c.query, Rights: c.rights}))
			if got != c.want || d.calls != 1 {
				t.Errorf("%s\n got: %s (%d calls)\nwant: %s (1 call)", c.query, got, d.calls, c.want)
			}
		})
	}
}

// TestBlindPatch: an update that changes nothing is not written for a
// caller that reads every field it names, and is for one that does not.
func TestBlindPatch(t *testing.T) {
	s := exampleSchema(t)
	reads := fieldRights{read: map[string][]string{"Customer": {"id", "tier"}}, write: map[string][]string{"Customer": {"tier"}}}
	for _, c := range []struct {
		rights  fieldRights
		written bool
	}{{reads, false}, {crm, true}} {
		d := seed(t, s)
		before := d.objs["Customer"]
		rev := before[customerKey(t, s, "c1")].Revision
		got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: `mutation { updateCustomer(id: "c1", patch: {tier: gold}) { id } }`, Rights: c.rights}))
		after := d.objs["Customer"][customerKey(t, s, "c1")].Revision
		if got != `{"data":{"updateCustomer":{"id":"c1"}}}` || (after != rev) != c.written {
			t.Errorf("rights %v: %s, revision %d to %d; want written %v", c.rights, got, rev, after, c.written)
		}
	}
}

func customerKey(t *testing.T, s *Schema, id string) string {
	t.Helper()
	ty, _ := s.Model().Type("Customer")
	pk, err := ty.PrimaryKey(map[string]any{"id": id})
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// listSpy is a memData that keeps the filters of every List call.
type listSpy struct {
	*memData
	filtered map[string][]string // type → the fields its List calls filtered on
}

func (d *listSpy) List(typ string, fs api.Filters, o api.Order, after string, limit int) (api.Page[Stored], error) {
	for _, f := range fs {
		d.filtered[typ] = append(d.filtered[typ], f.Path[0])
	}
	return d.memData.List(typ, fs, o, after, limit)
}

// largeWhere is a where of n objects of null filters, which say
// nothing, and then one filter on email: {and: [..., {email: ...}]}.
func largeWhere(n int) map[string]any {
	var and []any
	for range n {
		and = append(and, map[string]any{"email": nil, "first_name": nil, "last_name": nil, "tier": nil, "newsletter": nil})
	}
	return map[string]any{"and": append(and, map[string]any{"email": map[string]any{"eq": "ada@x.org"}})}
}

// TestFieldRightsLargeWhere: a filter on a field the caller may not read
// is refused however many null filters come before it.
func TestFieldRightsLargeWhere(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	const query = `query($w: CustomerWhere) { Customers(where: $w) { edges { node { id } } } }`
	got := respJSON(t, Execute(Request{Schema: s, Data: d, Query: query, Variables: map[string]any{"w": largeWhere(60)}, Rights: crm}))
	want := `{"data":null,"errors":["where: email: not allowed to read Customer.email, so not to filter on it"@Customers@1:28]}`
	if got != want || d.calls != 0 {
		t.Errorf("got: %s (%d calls)\nwant: %s (0 calls)", got, d.calls, want)
	}
}

// whereFields are the top-level fields the filters of a compiled where
// name, at any depth.
func whereFields(w *where) []string {
	if w == nil {
		return nil
	}
	var out []string
	for _, f := range w.filters {
		out = append(out, f.Path[0])
	}
	for _, sub := range slices.Concat(w.and, w.or) {
		out = append(out, whereFields(sub)...)
	}
	return out
}

// unreadable is the first of fields of typ that crm may not read, or "".
func unreadable(typ string, fields []string) string {
	for _, f := range fields {
		if !crm.CanReadField(typ, f) {
			return f
		}
	}
	return ""
}

// FuzzFieldRightsWhere: whatever where and orderBy a caller sends, no
// List call filters on a field it may not read, and no listing whose
// where (as compiled) names one, or which is ordered by an index, is
// answered: what it would keep or how it would sort is what the caller
// may not read.
func FuzzFieldRightsWhere(f *testing.F) {
	for _, v := range []string{
		`{"w": {"email": {"eq": "ada@x.org"}}}`,
		`{"w": {"or": [{"id": {"eq": "c1"}}, {"and": [{"tier": {"eq": "gold"}}]}]}, "o": {"by": "by_email"}}`,
		`{"w": {"and": {"first_name": {"prefix": "A"}}, "newsletter": null}}`,
		`{"ow": {"total": {"gt": "1"}}, "w": {"last_name": {"in": ["L", "M"]}}}`,
		`{"w": {"and": [{"and": [{"and": [{"email": {"ne": "x"}}]}]}]}}`,
		`{"w": {"or": [{"id": {"eq": "c9"}}, {"email": {"eq": "ada@x.org"}}]}}`,
	} {
		f.Add(v)
	}
	large, _ := json.Marshal(map[string]any{"w": largeWhere(60)})
	f.Add(string(large))
	s := exampleSchema(f)
	const query = `query($w: CustomerWhere, $o: CustomerOrder, $ow: OrderWhere) {
		Customers(where: $w, orderBy: $o) { edges { node { id orders(where: $ow) { edges { node { id } } } } } } }`
	compiled := func(typ string, v any) []string {
		ty, _ := s.Model().Type(typ)
		terms := 0
		w, err := compileWhere(ty, v, 0, &terms)
		if err != nil {
			return nil // the listing is refused for it
		}
		return whereFields(w)
	}
	f.Fuzz(func(t *testing.T, vars string) {
		var v map[string]any
		if json.Unmarshal([]byte(vars), &v) != nil {
			return
		}
		d := &listSpy{memData: seed(t, s), filtered: map[string][]string{}}
		resp := Execute(Request{Schema: s, Query: query, Variables: v, Data: d, Rights: crm, Limits: Limits{MaxCalls: 50}})
		for typ, fields := range d.filtered {
			if field := unreadable(typ, fields); field != "" {
				t.Fatalf("variables %s: a List of %s filtered on %s, which crm may not read (errors %v)", vars, typ, field, resp.Errors)
			}
		}
		data := string(resp.Data)
		if field := unreadable("Customer", compiled("Customer", v["w"])); field != "" && strings.Contains(data, `"Customers":{`) {
			t.Fatalf("variables %s: Customers answered a where on %s, which crm may not read: %s", vars, field, data)
		}
		if field := unreadable("Order", compiled("Order", v["ow"])); field != "" && strings.Contains(data, `"orders":{`) {
			t.Fatalf("variables %s: orders answered a where on %s, which crm may not read: %s", vars, field, data)
		}
		if o, _ := v["o"].(map[string]any); o != nil && o["by"] != nil && o["by"] != keySort && strings.Contains(data, `"Customers":{`) {
			t.Fatalf("variables %s: Customers answered in the order of an index of Customer, which crm reads in part: %s", vars, data)
		}
	})
}
