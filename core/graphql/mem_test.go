package graphql

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
)

// memData is an in-memory Data: one map per type, revisions from one
// counter, pages of at most pageCap objects (to exercise short pages),
// ordered by an index as storage orders (kv.ListOrder) with the entries
// model gives (put sets it).
type memData struct {
	objs    map[string]map[string]Stored
	hist    map[string][]Stored
	rev     int64
	pageCap int
	calls   int
	model   *model.Model
	orders  []api.Order // each List call's, in turn
}

func newMem() *memData {
	return &memData{objs: map[string]map[string]Stored{}, hist: map[string][]Stored{}, pageCap: 1000}
}

func (d *memData) Get(typ, pk string) (Stored, bool, error) {
	d.calls++
	st, ok := d.objs[typ][pk]
	return st, ok, nil
}

func (d *memData) List(typ string, fs api.Filters, o api.Order, after string, limit int) (api.Page[Stored], error) {
	d.calls++
	d.orders = append(d.orders, o)
	if limit < 1 || limit > api.MaxLimit {
		return api.Page[Stored]{}, fmt.Errorf("limit %d", limit)
	}
	order := kv.ListOrder{Index: o.Index, Desc: o.Desc, Exact: o.Exact, Key: o.Key}
	if err := order.Check(); err != nil {
		return api.Page[Stored]{}, err
	}
	if err := order.CheckPosition(after); err != nil {
		return api.Page[Stored]{}, err
	}
	var objs []Stored
	for _, st := range d.objs[typ] { //detlint:unordered sorted below
		rec := kv.ObjectRecord{PK: st.Key}
		if o.Index != "" {
			t, ok := d.model.Type(typ)
			if !ok {
				return api.Page[Stored]{}, fmt.Errorf("no type %s", typ)
			}
			entries, err := t.IndexEntries(st.Object)
			if err != nil {
				return api.Page[Stored]{}, err
			}
			for _, e := range entries {
				rec.Indexes = append(rec.Indexes, kv.IndexEntry{Index: e.Index, Key: e.Key, Unique: e.Unique})
			}
			// An exact listing reads the entries of its key alone.
			if o.Exact && !slices.ContainsFunc(rec.Indexes, func(e kv.IndexEntry) bool { return e.Index == o.Index && e.Key == o.Key }) {
				continue
			}
		}
		st.Position = order.Position(&rec)
		if after == "" || o.Compare(st.Position, after) > 0 {
			objs = append(objs, st)
		}
	}
	slices.SortFunc(objs, func(a, b Stored) int {
		if o.Desc {
			return strings.Compare(b.Position, a.Position)
		}
		return strings.Compare(a.Position, b.Position)
	})
	var p api.Page[Stored]
	for i, st := range objs {
		if i == d.pageCap {
			p.More, p.Last = true, objs[i-1].Position
			return p, nil
		}
		if fs.Match(st.Object) {
			p.Items = append(p.Items, st)
			if len(p.Items) == limit {
				p.More, p.Last = i < len(objs)-1, st.Position
				return p, nil
			}
		}
	}
	return p, nil
}

func (d *memData) History(typ, pk string) ([]Stored, error) {
	d.calls++
	return d.hist[typ+"\x00"+pk], nil
}

func (d *memData) Put(typ, pk string, obj model.Object, cond Condition) (Stored, error) {
	d.calls++
	old, ok := d.objs[typ][pk]
	if cond.IfAbsent && ok || cond.IfRevision != 0 && (!ok || old.Revision != cond.IfRevision) {
		return Stored{}, ErrCondition
	}
	if ok {
		d.hist[typ+"\x00"+pk] = append(d.hist[typ+"\x00"+pk], old)
	}
	if d.objs[typ] == nil {
		d.objs[typ] = map[string]Stored{}
	}
	d.rev++
	st := Stored{Key: pk, Object: obj, Version: 1, Revision: d.rev}
	if typ == "Customer" {
		st.Version = 2
	}
	d.objs[typ][pk] = st
	return st, nil
}

func (d *memData) Delete(typ, pk string, cond Condition) (bool, error) {
	d.calls++
	old, ok := d.objs[typ][pk]
	if cond.IfRevision != 0 && (!ok || old.Revision != cond.IfRevision) {
		return false, ErrCondition
	}
	if ok {
		d.hist[typ+"\x00"+pk] = append(d.hist[typ+"\x00"+pk], old)
	}
	delete(d.objs[typ], pk)
	return ok, nil
}

func exampleModel(t testing.TB) *model.Model {
	t.Helper()
	data, err := os.ReadFile("testdata/model.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Parse("testdata/model.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func exampleSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := NewSchema(exampleModel(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// put stores an object given as JSON, validated by the model.
func (d *memData) put(t tb, s *Schema, typ, js string) Stored {
	t.Helper()
	d.model = s.Model()
	ty, _ := s.Model().Type(typ)
	obj, err := ty.Validate(ty.Latest(), []byte(js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	pk, err := ty.PrimaryKey(obj)
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Put(typ, pk, obj, Condition{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// seed stores a small shop: customers c1..c3, products, orders and
// shipments.
func seed(t testing.TB, s *Schema) *memData {
	d := newMem()
	for _, c := range []string{
		`{"id":"c1","first_name":"Ada","last_name":"L","email":"ada@x.org","created":"2024-01-01T00:00:00Z","tier":"gold","newsletter":true}`,
		`{"id":"c2","first_name":"Bob","last_name":"M","email":null,"created":"2024-02-01T00:00:00Z","tier":"basic","newsletter":false}`,
		`{"id":"c3","first_name":"Cy","last_name":"N","email":"cy@y.org","created":"2024-03-01T00:00:00Z","tier":"basic","newsletter":true}`,
	} {
		d.put(t, s, "Customer", c)
	}
	for _, p := range []string{
		`{"sku":"p1","title":"Book","price":"12.5","weight_kg":0.5,"stock":10,"image":"AQID","category":"books","tags":["a","b"],"attributes":{"color":"red"}}`,
		`{"sku":"p2","title":"Hammer","price":"9","weight_kg":1.5,"stock":-3,"image":null,"category":"tools","tags":[],"attributes":{}}`,
		`{"sku":"p3","title":"Ball","price":"100.25","weight_kg":0.2,"stock":7,"category":"toys","tags":["b"],"attributes":{},"discontinued":true}`,
	} {
		d.put(t, s, "Product", p)
	}
	addr := `{"street":"S 1","city":"Delft","zip":"2611"}`
	for _, o := range []string{
		`{"id":"o1","customer_id":"c1","placed":"2024-04-01T00:00:00Z","status":"paid","lines":[{"sku":"p1","quantity":2,"unit_price":"12.5"}],"total":"25","note":null,"shipping_address":` + addr + `}`,
		`{"id":"o2","customer_id":"c1","placed":"2024-04-02T00:00:00Z","status":"open","lines":[],"total":"0","note":"gift","shipping_address":` + addr + `}`,
		`{"id":"o3","customer_id":"c2","placed":"2024-04-03T00:00:00Z","status":"shipped","lines":[],"total":"9","shipping_address":{"street":"T 2","city":"Leiden","zip":"2300","country":"BE"}}`,
	} {
		d.put(t, s, "Order", o)
	}
	d.put(t, s, "Shipment", `{"order_id":"o1","seq":1,"customer_id":"c1","tracking":"T1","carrier":"dhl","shipped":null,"weight_kg":1,"delivered":false}`)
	d.put(t, s, "Shipment", `{"order_id":"o1","seq":2,"customer_id":"c1","tracking":"T2","carrier":"ups","shipped":"2024-05-01T00:00:00Z","weight_kg":2,"delivered":true}`)
	d.calls = 0
	return d
}

// run executes a query and returns the response as JSON.
func run(t tb, s *Schema, d Data, query string, vars map[string]any) string {
	t.Helper()
	resp := Execute(Request{Schema: s, Query: query, Variables: vars, Data: d})
	return respJSON(t, resp)
}

func respJSON(t tb, resp Response) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{`)
	if resp.Data != nil {
		b.WriteString(`"data":` + string(resp.Data))
	}
	if len(resp.Errors) > 0 {
		if resp.Data != nil {
			b.WriteString(",")
		}
		b.WriteString(`"errors":[`)
		for i, e := range resp.Errors {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%q", e.Message)
			if len(e.Path) > 0 {
				b.WriteString("@" + e.Path.String())
			}
			for _, l := range e.Locations {
				fmt.Fprintf(&b, "@%d:%d", l.Line, l.Column)
			}
		}
		b.WriteString("]")
	}
	b.WriteString("}")
	return b.String()
}

// tb is what the helpers need of a test, testing's or rapid's.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}
