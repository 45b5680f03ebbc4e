package harness

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet/client"
)

// lister lists a type's objects as GET /v1/data/{type} does
// (core/live's listObjects), in the simulator: each page asks every
// replicaset for its page, first of a member of it, following redirects
// to its leader, and merges the pages (core/api) in the query's order
// into the listing's page and the position to go on after.
type lister struct {
	e   env.Env
	rss []string
	ask func(rs string) env.NodeID // whom to ask first
	q   api.Query
	// scan overrides the scan bound of each page (api.ScanBound) when set.
	scan int
	// version is the type's latest version in the model q was read
	// against (kv.ListRequest.Version).
	version int

	seq     uint64
	pending map[uint64]*kv.Request // by sequence number
	pages   []api.Page[kv.ObjectRecord]
	answers int

	items []kv.ObjectRecord
	sizes []int // objects per page
	done  bool
	err   error
}

type listNext struct{}

func (listNext) Kind() string { return "test.list" }

// resend asks again a replicaset whose members knew no leader.
type resend struct {
	to  env.NodeID
	req *kv.Request
}

func (resend) Kind() string { return "test.list.resend" }

func (l *lister) Handle(ev env.Event) {
	switch ev := ev.(type) {
	case listNext:
		l.pages, l.answers, l.pending = make([]api.Page[kv.ObjectRecord], len(l.rss)), 0, map[uint64]*kv.Request{}
		scan := api.ScanBound(l.q.Limit)
		if l.scan != 0 {
			scan = l.scan
		}
		for _, rs := range l.rss {
			l.seq++
			req := &kv.Request{Client: string(l.e.ID()), Seq: l.seq, Op: kv.OpListObjects, Stale: l.q.Stale, List: &kv.ListRequest{
				Replicaset: rs, Type: l.q.Type, Filter: l.q.Filters.Encode(), After: l.q.After, Limit: l.q.Limit, Scan: scan, Version: l.version,
				Index: l.q.Order.Index, Desc: l.q.Order.Desc}}
			l.pending[l.seq] = req
			l.e.Send(l.ask(rs), req)
		}
	case resend:
		if _, ok := l.pending[ev.req.Seq]; ok {
			l.e.Send(ev.to, ev.req)
		}
	}
}

func (l *lister) Receive(from env.NodeID, m env.Message) {
	r, ok := m.(*kv.Response)
	if !ok || l.done {
		return
	}
	req, ok := l.pending[r.Seq]
	if !ok {
		return
	}
	switch {
	case r.Status == kv.StatusRedirect && r.Leader != "":
		l.e.Send(r.Leader, req)
		return
	case r.Status == kv.StatusRedirect:
		to := r.Hint
		if to == "" {
			to = from
		}
		l.e.After(50*time.Millisecond, resend{to: to, req: req})
		return
	case r.Status != kv.StatusOK || r.List == nil || r.List.Replicaset != req.List.Replicaset:
		l.fail(fmt.Errorf("%s answered a list of %s with %s %q, page %+v", from, req.List.Replicaset, r.Status, r.Error, r.List))
		return
	}
	delete(l.pending, r.Seq)
	l.pages[slices.Index(l.rss, r.List.Replicaset)] = api.Page[kv.ObjectRecord]{Items: r.List.Objects, More: r.List.More, Last: r.List.Last}
	if l.answers++; l.answers < len(l.rss) {
		return
	}
	order := kv.ListOrder{Index: l.q.Order.Index, Desc: l.q.Order.Desc}
	items, next, more, err := api.Merge(order.Desc, l.q.After, l.q.Limit, l.pages, func(rec kv.ObjectRecord) string { return order.Position(&rec) },
		func(rec kv.ObjectRecord) string { return rec.PK })
	if err != nil {
		l.fail(err)
		return
	}
	l.items = append(l.items, items...)
	l.sizes = append(l.sizes, len(items))
	if !more {
		l.done = true
		return
	}
	if len(l.sizes) > 1000 {
		l.fail(fmt.Errorf("the listing does not end after %d pages", len(l.sizes)))
		return
	}
	l.q.After = next
	l.Handle(listNext{})
}

func (l *lister) fail(err error) {
	l.err, l.done = err, true
}

// TestListObjectsAcrossReplicasets writes Customers to a cluster of two
// replicasets and lists them through the instances, as the API does:
// every Customer, those a filter keeps, with pages of every size and a
// scan bound that cuts pages short, linearizable and stale; each listing
// has every object it should, once, in key order.
func TestListObjectsAcrossReplicasets(t *testing.T) {
	w, c := start(t, 1, Topology{Instances: 6, ReplicationFactor: 3, Model: exampleModel(t, "model.yaml")}, node.Config{})
	const n = 60
	var ops []client.Op
	for i := range n {
		ops = append(ops, putCustomer(fmt.Sprintf("c%d", i)))
	}
	writeAll(t, w, c, ops, 5*time.Millisecond, 6*time.Second)
	m, err := model.Parse("model.yaml", exampleModel(t, "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	customer, _ := m.Type("Customer")
	// Both replicasets hold some Customers.
	for _, rs := range c.Replicasets() {
		l, ok := c.Leader(rs)
		if !ok {
			t.Fatalf("%s has no leader", rs)
		}
		objs, err := c.Node(l).StoredObjects(rs, "Customer")
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) == 0 || len(objs) == n {
			t.Fatalf("%s holds %d of the %d Customers", rs, len(objs), n)
		}
	}
	// want is the Customers whose number keep accepts, in key order.
	want := func(keep func(i int) bool) []string {
		var pks []string
		for i := range n {
			if keep(i) {
				pks = append(pks, model.EncodeKey(fmt.Sprintf("c%d", i)))
			}
		}
		slices.Sort(pks)
		var keys []string
		for _, pk := range pks {
			keys = append(keys, customer.KeyString(pk))
		}
		return keys
	}
	all := func(int) bool { return true }
	for k, c2 := range []struct {
		query string
		scan  int
		keep  func(i int) bool
		pages int
	}{
		{"", 0, all, 1},
		{"limit=7", 0, all, 9},
		{"limit=1", 0, all, n},
		{"limit=1000&tier=basic&first_name=Ada", 0, all, 1},
		{"last_name[prefix]=c1&limit=4", 0, func(i int) bool { return fmt.Sprint(i)[0] == '1' }, 3},
		{"last_name[in]=c7,c42,c59,nobody", 0, func(i int) bool { return i == 7 || i == 42 || i == 59 }, 1},
		{"last_name=nobody", 0, func(int) bool { return false }, 1},
		// Each replicaset looks at two Customers a page.
		{"last_name[prefix]=c5&limit=2", 2, func(i int) bool { return fmt.Sprint(i)[0] == '5' }, 0},
		{"consistency=stale&limit=13", 0, all, 5},
	} {
		t.Run(c2.query, func(t *testing.T) {
			values, err := url.ParseQuery(c2.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := api.ParseQuery(customer, values)
			if err != nil {
				t.Fatal(err)
			}
			l := &lister{rss: c.Replicasets(), q: q, scan: c2.scan, version: customer.Latest(), ask: func(rs string) env.NodeID { return c.Members(rs)[0] }}
			name := env.NodeID(fmt.Sprintf("lister%d", k))
			if err := w.AddNode(name, func(e env.Env) (env.Node, error) { l.e = e; return l, nil }); err != nil {
				t.Fatal(err)
			}
			w.Post(name, listNext{})
			runUntil(t, w, w.Now()+10*time.Second)
			if !l.done || l.err != nil {
				t.Fatalf("the listing ended %v with %v after %d pages", l.done, l.err, len(l.sizes))
			}
			var keys []string
			for _, rec := range l.items {
				if rec.Type != "Customer" || rec.Version != 2 || len(rec.Indexes) != 0 {
					t.Errorf("listed %+v", rec)
				}
				keys = append(keys, customer.KeyString(rec.PK))
			}
			if w := want(c2.keep); !slices.Equal(keys, w) {
				t.Errorf("listed %q,\nwant %q", keys, w)
			}
			for _, size := range l.sizes {
				if size > q.Limit {
					t.Errorf("a page of %d, over its limit %d", size, q.Limit)
				}
			}
			if c2.pages != 0 && len(l.sizes) != c2.pages {
				t.Errorf("%d pages (%v), want %d", len(l.sizes), l.sizes, c2.pages)
			}
		})
	}
	// In an index's order and reversed: Customers without an email (a
	// null in by_email) after the others, before them reversed.
	var nulls []client.Op
	for i := range 10 {
		id := fmt.Sprintf("d%d", i)
		v := fmt.Sprintf(`{"id": %q, "name": "Bo %s", "email": null, "created": "2026-01-02T03:04:05Z"}`, id, id)
		nulls = append(nulls, client.Op{F: kv.OpPutObject, Key: id, Label: "Customer/" + id, Object: &kv.ObjectRequest{Type: "Customer", Version: 1, Value: []byte(v)}})
	}
	writeAll(t, w, c, nulls, 5*time.Millisecond, w.Now()+6*time.Second)
	var byEmail []string // by email, then the nulls in key order
	for i := range n {
		byEmail = append(byEmail, fmt.Sprintf("c%d", i))
	}
	slices.SortFunc(byEmail, func(a, b string) int { return strings.Compare(a+"@example.com", b+"@example.com") })
	var without []string
	for i := range 10 {
		without = append(without, model.EncodeKey(fmt.Sprintf("d%d", i)))
	}
	slices.Sort(without)
	for _, pk := range without {
		byEmail = append(byEmail, customer.KeyString(pk))
	}
	everyKey := append(want(all), byEmail[n:]...) // d… sort after c…
	reverse := func(s []string) []string {
		s = slices.Clone(s)
		slices.Reverse(s)
		return s
	}
	for k, c2 := range []struct {
		query string
		scan  int
		want  []string
	}{
		{"order=by_email&limit=7", 0, byEmail},
		{"order=-by_email&limit=9", 0, reverse(byEmail)},
		{"order=by_email&limit=3", 4, byEmail},
		{"order=-_key&limit=11", 0, reverse(everyKey)},
	} {
		t.Run(c2.query, func(t *testing.T) {
			values, err := url.ParseQuery(c2.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := api.ParseQuery(customer, values)
			if err != nil {
				t.Fatal(err)
			}
			l := &lister{rss: c.Replicasets(), q: q, scan: c2.scan, version: customer.Latest(), ask: func(rs string) env.NodeID { return c.Members(rs)[0] }}
			name := env.NodeID(fmt.Sprintf("ordered-lister%d", k))
			if err := w.AddNode(name, func(e env.Env) (env.Node, error) { l.e = e; return l, nil }); err != nil {
				t.Fatal(err)
			}
			w.Post(name, listNext{})
			runUntil(t, w, w.Now()+10*time.Second)
			if !l.done || l.err != nil {
				t.Fatalf("the listing ended %v with %v after %d pages", l.done, l.err, len(l.sizes))
			}
			var keys []string
			for _, rec := range l.items {
				email := ""
				for _, e := range rec.Indexes {
					email = e.Key
				}
				if rec.Type != "Customer" || rec.Version != 2 || len(rec.Indexes) > 1 || q.Order.Index == "" && len(rec.Indexes) != 0 ||
					q.Order.Index != "" && (email == "") != strings.HasPrefix(customer.KeyString(rec.PK), "d") {
					t.Errorf("listed %+v", rec)
				}
				keys = append(keys, customer.KeyString(rec.PK))
			}
			if !slices.Equal(keys, c2.want) {
				t.Errorf("listed %q,\nwant %q", keys, c2.want)
			}
			for _, size := range l.sizes {
				if size > q.Limit {
					t.Errorf("a page of %d, over its limit %d", size, q.Limit)
				}
			}
		})
	}
	// A filter read against another model than the instances' is never
	// judged: they answer "try again" for as long as the two differ.
	q, err := api.ParseQuery(customer, url.Values{"tier": {"basic"}})
	if err != nil {
		t.Fatal(err)
	}
	other := &lister{rss: c.Replicasets(), q: q, version: customer.Latest() + 1, ask: func(rs string) env.NodeID { return c.Members(rs)[0] }}
	if err := w.AddNode("lister-other-model", func(e env.Env) (env.Node, error) { other.e = e; return other, nil }); err != nil {
		t.Fatal(err)
	}
	w.Post("lister-other-model", listNext{})
	runUntil(t, w, w.Now()+3*time.Second)
	if other.done || len(other.items) != 0 {
		t.Errorf("a listing read against another model ended %v with %d objects (%v)", other.done, len(other.items), other.err)
	}
	// Every list-objects is in the trace.
	lists := 0
	for _, r := range records(t, w) {
		if op, _ := r.Str("op"); r.Kind == "kv.request" && op == "list-objects" {
			lists++
		}
	}
	if lists == 0 {
		t.Error("no list-objects in the trace")
	}
}
