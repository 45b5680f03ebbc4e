package live

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	query "github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// fakeData is a fakeModels whose objects are spread over two
// replicasets by their routing key, which answers list-objects as the
// engine does: each replicaset's page from its own objects, in the
// request's order after its position, at most its scan bound examined,
// each object in the latest shape of its type and kept if the request's
// filter matches it (kv.Machine.ListObjects, core/node's listObjects).
type fakeData struct {
	*fakeModels
	replicasets []string
	// scan, when set, bounds every page's scan instead of the request's.
	scan int
	// lists are the list-objects requests received.
	lists []kv.Request
	// beforePut runs before each put-object is served: a concurrent
	// writer.
	beforePut func(f *fakeData)
}

func newFakeData() *fakeData {
	f := &fakeData{fakeModels: newFakeModels(examples.Model), replicasets: []string{"rs1", "rs2"}}
	f.cluster = ClusterStatus{Node: "n1", Replicasets: []ReplicasetStatus{{Name: "rs1", Group: 1}, {Name: "rs2", Group: 2}}}
	return f
}

func (f *fakeData) Do(ctx context.Context, req kv.Request) (kv.Response, error) {
	if req.Op == kv.OpPutObject && f.beforePut != nil {
		f.beforePut(f)
	}
	if req.Op != kv.OpListObjects {
		return f.fakeModels.Do(ctx, req)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, req)
	if f.err != nil {
		return kv.Response{}, f.err
	}
	if f.objStatus != 0 {
		return kv.Response{Status: f.objStatus, Error: f.objError, Leader: "n2"}, nil
	}
	l := req.List
	filters, err := query.DecodeFilters(l.Filter)
	if err != nil {
		return kv.Response{Status: kv.StatusInvalid, Error: err.Error()}, nil
	}
	m, err := model.Parse("model.yaml", []byte(f.st.Revisions[len(f.st.Revisions)-1].Source))
	if err != nil {
		return kv.Response{}, err
	}
	t, ok := m.Type(l.Type)
	if !ok {
		return kv.Response{Status: kv.StatusInvalid, Error: fmt.Sprintf("the model has no type %q", l.Type)}, nil
	}
	order := kv.ListOrder{Index: l.Index, Desc: l.Desc, Exact: l.Exact, Key: l.Key}
	if err := order.Check(); err != nil {
		return kv.Response{Status: kv.StatusInvalid, Error: err.Error()}, nil
	}
	if l.Index != "" && !slices.ContainsFunc(t.Indexes, func(ix model.Index) bool { return ix.Name == l.Index }) {
		return kv.Response{Status: kv.StatusRedirect, Error: fmt.Sprintf("list-objects: type %s has no index %s", l.Type, l.Index)}, nil
	}
	if err := order.CheckPosition(l.After); err != nil {
		return kv.Response{Status: kv.StatusInvalid, Error: err.Error()}, nil
	}
	// In the order's positions: the entries of an object are those of
	// its latest shape, as a write under the model stores them.
	type placed struct {
		pos string
		rec kv.ObjectRecord
		obj model.Object
	}
	var objs []placed
	for k, rec := range f.objects {
		if k[0] != l.Type || f.replicasetOf(t, k[1]) != l.Replicaset {
			continue
		}
		obj, err := model.Decode(rec.Value)
		if err == nil && rec.Version < t.Latest() {
			if obj, err = t.Upgrade(rec.Version, obj); err == nil {
				rec.Version, rec.Value = t.Latest(), model.Encode(obj)
			}
		}
		if err != nil {
			return kv.Response{Status: kv.StatusInvalid, Error: err.Error()}, nil
		}
		rec.Indexes = nil
		if l.Index != "" {
			entries, err := t.IndexEntries(obj)
			if err != nil {
				return kv.Response{}, err
			}
			for _, e := range entries {
				if e.Index == l.Index {
					rec.Indexes = []kv.IndexEntry{{Index: e.Index, Key: e.Key, Unique: e.Unique}}
				}
			}
			// An exact listing reads the entries of its key alone.
			if l.Exact && (len(rec.Indexes) == 0 || rec.Indexes[0].Key != l.Key) {
				continue
			}
		}
		pos := order.Position(&rec)
		if l.After == "" || (pos > l.After) != l.Desc && pos != l.After {
			objs = append(objs, placed{pos, rec, obj})
		}
	}
	slices.SortFunc(objs, func(a, b placed) int {
		if l.Desc {
			return strings.Compare(b.pos, a.pos)
		}
		return strings.Compare(a.pos, b.pos)
	})
	scan := l.Scan
	if f.scan != 0 {
		scan = f.scan
	}
	f.index++
	page := &kv.ListPage{Replicaset: l.Replicaset}
	for i, o := range objs {
		if i == scan || len(page.Objects) == l.Limit {
			page.More = true
			break
		}
		page.Last = o.pos
		if filters.Match(o.obj) {
			page.Objects = append(page.Objects, o.rec)
		}
	}
	return kv.Response{Status: kv.StatusOK, Index: f.index, List: page}, nil
}

// replicasetOf is the replicaset that holds an object: its bucket's.
func (f *fakeData) replicasetOf(t *model.Type, pk string) string {
	route, err := t.RouteKey(pk)
	if err != nil {
		panic(err)
	}
	return f.replicasets[kv.Bucket(route, len(f.replicasets))]
}

// store writes objects as a client's PUT would (validated, upgraded,
// canonical), without the API.
func (f *fakeData) store(t *testing.T, typ string, objs ...string) {
	t.Helper()
	for _, js := range objs {
		resp, err := f.fakeModels.Do(context.Background(), kv.Request{Op: kv.OpPutObject, Key: routeOf(t, typ, js),
			Object: &kv.ObjectRequest{Type: typ, Value: []byte(js)}})
		if err != nil || resp.Status != kv.StatusOK {
			t.Fatalf("storing %s: %+v, %v", js, resp, err)
		}
	}
}

func exampleType(t *testing.T, name string) *model.Type {
	t.Helper()
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	typ, ok := m.Type(name)
	if !ok {
		t.Fatalf("the example model has no type %s", name)
	}
	return typ
}

func routeOf(t *testing.T, typ, js string) string {
	t.Helper()
	ty := exampleType(t, typ)
	obj, err := ty.Validate(ty.Latest(), []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	route, err := ty.AffinityKey(obj)
	if err != nil {
		t.Fatal(err)
	}
	return route
}

// product is a Product of the example model.
func product(sku, category string, price string, stock int, color string) string {
	return fmt.Sprintf(`{"sku":%q,"title":"%s title","price":%q,"weight_kg":0.5,"stock":%d,"category":%q,"tags":["t"],"attributes":{"color":%q}}`,
		sku, sku, price, stock, category, color)
}

// products are eleven Products, p00 to p10, spread over both replicasets.
func products(f *fakeData, t *testing.T) {
	t.Helper()
	categories := []string{"books", "tools", "toys"}
	colors := []string{"red", "blue"}
	for i := range 11 {
		f.store(t, "Product", product(fmt.Sprintf("p%02d", i), categories[i%3], fmt.Sprintf("%d.50", i*3), 10-i, colors[i%2]))
	}
}

// listKeys follows a listing's cursors from the first page to the last
// and returns its keys, and the keys of each page.
func listKeys(t *testing.T, srv *httptest.Server, path string) (all []string, pages [][]string) {
	t.Helper()
	next := ""
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatalf("%s: the listing does not end", path)
		}
		p := path
		if next != "" {
			sep := "?"
			if strings.Contains(p, "?") {
				sep = "&"
			}
			p += sep + "after=" + url.QueryEscape(next)
		}
		got := callWith(t, srv, "GET", p, nil, "")
		if got.status != 200 {
			t.Fatalf("GET %s: %d %s", p, got.status, got.body)
		}
		var body ListBody
		if err := json.Unmarshal([]byte(got.body), &body); err != nil {
			t.Fatalf("GET %s: %v: %s", p, err, got.body)
		}
		var keys []string
		for _, it := range body.Items {
			keys = append(keys, it.Key)
		}
		all = append(all, keys...)
		pages = append(pages, keys)
		if body.Next == "" {
			return all, pages
		}
		next = body.Next
	}
}

func skus(is ...int) []string {
	var out []string
	for _, i := range is {
		out = append(out, fmt.Sprintf("p%02d", i))
	}
	return out
}

// TestDataList lists the example's Products and Orders through the API:
// filters of several kinds, pages across both replicasets, cursors, the
// consistency header, and what each replicaset was asked.
func TestDataList(t *testing.T) {
	for _, c := range []struct {
		name  string
		path  string
		scan  int
		want  []string
		pages int
	}{
		{"all", "/v1/data/Product", 0, skus(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 1},
		{"pages of one", "/v1/data/Product?limit=1", 0, skus(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 11},
		{"pages of four", "/v1/data/Product?limit=4", 0, skus(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 3},
		{"a decimal compared as a number", "/v1/data/Product?price[gt]=9", 0, skus(3, 4, 5, 6, 7, 8, 9, 10), 1},
		{"an enum in a list", "/v1/data/Product?category[in]=books,toys&limit=3", 0, skus(0, 2, 3, 5, 6, 8, 9), 3},
		{"a map entry and an int", "/v1/data/Product?attributes.color=red&stock[le]=6", 0, skus(4, 6, 8, 10), 1},
		{"a prefix", "/v1/data/Product?title[prefix]=p1", 0, skus(10), 1},
		{"nothing matches", "/v1/data/Product?stock[gt]=100", 0, nil, 1},
		// Each replicaset looks at two objects a page: pages are short,
		// some empty, and the listing is whole.
		{"a small scan bound", "/v1/data/Product?stock[lt]=3&limit=2", 2, skus(8, 9, 10), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeData()
			f.scan = c.scan
			products(f, t)
			srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
			defer srv.Close()
			all, pages := listKeys(t, srv, c.path)
			if !slices.Equal(all, c.want) {
				t.Errorf("listed %q, want %q", all, c.want)
			}
			if c.pages != 0 && len(pages) != c.pages {
				t.Errorf("%d pages %q, want %d", len(pages), pages, c.pages)
			}
			// Every page asked both replicasets for the whole page.
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.lists) != 2*len(pages) {
				t.Fatalf("%d list-objects for %d pages", len(f.lists), len(pages))
			}
			asked := map[string]int{}
			for i, req := range f.lists {
				l := req.List
				asked[l.Replicaset]++
				if req.Stale || l.Type != "Product" || l.Limit < 1 || l.Scan != query.ScanBound(l.Limit) {
					t.Errorf("list-objects %d: %+v (stale %v)", i, *l, req.Stale)
				}
			}
			if asked["rs1"] != len(pages) || asked["rs2"] != len(pages) {
				t.Errorf("asked the replicasets %v for %d pages", asked, len(pages))
			}
		})
	}

	// Both replicasets hold some of them.
	f := newFakeData()
	products(f, t)
	typ := exampleType(t, "Product")
	held := map[string]int{}
	for k := range f.objects {
		held[f.replicasetOf(typ, k[1])]++
	}
	if held["rs1"] == 0 || held["rs2"] == 0 {
		t.Fatalf("the products are all in one replicaset: %v", held)
	}
}

// TestDataListAnswers pins the bodies, headers and errors of a listing.
func TestDataListAnswers(t *testing.T) {
	q, err := query.ParseQuery(exampleType(t, "Product"), url.Values{"limit": {"2"}})
	if err != nil {
		t.Fatal(err)
	}
	cursor := q.Cursor(model.EncodeKey("p01"))
	otherCursor := (&query.Query{Type: "Product"}).Cursor(model.EncodeKey("p01"))
	if cursor != otherCursor {
		t.Fatal("a cursor depends on the limit")
	}
	filtered, _ := query.ParseQuery(exampleType(t, "Product"), url.Values{"category": {"toys"}})
	// The listing reads by_category's entries of toys: its cursor holds
	// a position of that index (here p01's, a tools, before every toy).
	toysCursor := filtered.Cursor(kv.ListOrder{Index: "by_category"}.Position(&kv.ObjectRecord{PK: model.EncodeKey("p01"),
		Indexes: []kv.IndexEntry{{Index: "by_category", Key: model.EncodeKey("tools")}}}))
	item := func(sku, category, price string, stock int, color string, rev int) string {
		return fmt.Sprintf(`{"type":"Product","key":%q,"version":1,"revision":%d,"object":{"attributes":{"color":%q},"category":%q,`+
			`"discontinued":false,"image":null,"price":%q,"sku":%q,"stock":%d,"tags":["t"],"title":"%s title","weight_kg":0.5}}`,
			sku, rev, color, category, price, sku, stock, sku)
	}
	for _, c := range []struct {
		name       string
		setup      func(f *fakeData)
		path       string
		status     int
		want       string
		wantHeader map[string]string
		stale      bool
	}{
		{name: "a first page", path: "/v1/data/Product?limit=2", status: 200,
			want:       `{"type":"Product","items":[` + item("p00", "books", "0.5", 10, "red", 1) + "," + item("p01", "tools", "3.5", 9, "blue", 2) + `],"next":"` + cursor + `"}`,
			wantHeader: map[string]string{ConsistencyHeader: "linearizable"}},
		{name: "after a cursor", path: "/v1/data/Product?limit=2&after=" + cursor + "&stock[lt]=9", status: 400,
			want: `{"error":"after: the cursor belongs to a listing of another type or with other filters or order, or one the model has changed under (an index added or changed): repeat that listing's filters and order, or start again without after"}`},
		{name: "a last page", path: "/v1/data/Product?category=toys&after=" + toysCursor, status: 200,
			want: `{"type":"Product","items":[` + item("p02", "toys", "6.5", 8, "red", 3) + "," + item("p05", "toys", "15.5", 5, "blue", 6) + "," +
				item("p08", "toys", "24.5", 2, "red", 9) + `]}`},
		{name: "stale", path: "/v1/data/Product?consistency=stale&sku=p10", status: 200, stale: true,
			want:       `{"type":"Product","items":[` + item("p10", "tools", "30.5", 0, "red", 11) + `]}`,
			wantHeader: map[string]string{ConsistencyHeader: "stale"}},
		{name: "no objects", path: "/v1/data/Customer", status: 200, want: `{"type":"Customer","items":[]}`},
		{name: "an unknown field", path: "/v1/data/Product?stokc=1", status: 400,
			want: `{"error":"filter \"stokc\": Product has no field \"stokc\" (did you mean stock?)"}`},
		{name: "a bad value", path: "/v1/data/Product?stock[gt]=x", status: 400, want: `{"error":"filter \"stock[gt]\": \"x\" is not an integer"}`},
		{name: "a bad limit", path: "/v1/data/Product?limit=0", status: 400, want: `{"error":"limit \"0\": want a number from 1 to 1000"}`},
		{name: "a bad cursor", path: "/v1/data/Product?after=xyz", status: 400,
			want: `{"error":"after \"xyz\": not a cursor (a cursor is the \"next\" of a listing's answer)"}`},
		{name: "a bad escape", path: "/v1/data/Product?stock=%zz", status: 400, want: `{"error":"query \"stock=%zz\": invalid URL escape \"%zz\""}`},
		{name: "an unknown type", path: "/v1/data/Nope", status: 404, want: `{"error":"the model has no type \"Nope\""}`},
		{name: "no replicaset", setup: func(f *fakeData) { f.cluster.Replicasets = nil }, path: "/v1/data/Product", status: 503,
			want: `{"error":"unavailable, nothing was done: the cluster has no replicaset yet"}`},
		{name: "a redirect", setup: func(f *fakeData) { f.objStatus = kv.StatusRedirect }, path: "/v1/data/Product", status: 503,
			want: `{"error":"unavailable, nothing was done (this node could not forward the request)"}`},
		{name: "an object that does not upgrade", setup: func(f *fakeData) { f.objStatus, f.objError = kv.StatusInvalid, "Product \"p1\": stored object: bad" },
			path: "/v1/data/Product", status: 500,
			want: `{"error":"internal error: the backend could not read the objects of Product in replicaset rs1: Product \"p1\": stored object: bad"}`},
		{name: "the cluster unknown", setup: func(f *fakeData) { f.err = fmt.Errorf("%w: %w", ErrUnavailable, ErrNotFormed) }, path: "/v1/data/Product", status: 503,
			want: `{"error":"unavailable, nothing was done: ` + ErrNotFormed.Error() + `"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeData()
			products(f, t)
			if c.setup != nil {
				c.setup(f)
			}
			srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
			defer srv.Close()
			got := callWith(t, srv, "GET", c.path, nil, "")
			if got.status != c.status || got.body != c.want {
				t.Errorf("GET %s:\n got %d %s\nwant %d %s", c.path, got.status, got.body, c.status, c.want)
			}
			for k, v := range c.wantHeader {
				if got.header.Get(k) != v {
					t.Errorf("header %s: %q, want %q", k, got.header.Get(k), v)
				}
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, req := range f.lists {
				if req.Stale != c.stale {
					t.Errorf("a list-objects with stale %v, want %v", req.Stale, c.stale)
				}
			}
		})
	}
}

// TestDataListNested filters Orders on a field of a nested record and on
// a ref, across both replicasets.
func TestDataListNested(t *testing.T) {
	f := newFakeData()
	order := func(customer, id, city, status string) string {
		return fmt.Sprintf(`{"id":%q,"customer_id":%q,"placed":"2024-01-02T03:04:05Z","status":%q,"lines":[],"total":"0","note":null,`+
			`"shipping_address":{"street":"Main 1","city":%q,"zip":"1"}}`, id, customer, status, city)
	}
	f.store(t, "Order", order("c1", "o1", "Delft", "open"), order("c1", "o2", "Leiden", "paid"), order("c2", "o1", "Delft", "paid"),
		order("c3", "o9", "Delft", "open"), order("c4", "o1", "Gouda", "open"))
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	for path, want := range map[string][]string{
		"/v1/data/Order?shipping_address.city=Delft&limit=1":                         {"c1,o1", "c2,o1", "c3,o9"},
		"/v1/data/Order?customer_id=c1":                                              {"c1,o1", "c1,o2"},
		"/v1/data/Order?customer_id[ne]=c1&status=open":                              {"c3,o9", "c4,o1"},
		"/v1/data/Order?shipping_address.country=NL&placed[lt]=2025-01-01T00:00:00Z": {"c1,o1", "c1,o2", "c2,o1", "c3,o9", "c4,o1"},
	} {
		if all, _ := listKeys(t, srv, path); !slices.Equal(all, want) {
			t.Errorf("%s: %q, want %q", path, all, want)
		}
	}
}

const customerC1 = `{"id":"c1","first_name":"Ada","last_name":"Lovelace","email":"ada@example.com","created":"2024-01-02T02:04:05Z","tier":"basic","newsletter":false}`

// TestDataPutByKey: PUT /v1/data/{type}/{key} stores the body when its
// key is the path's, and names both when it is not.
func TestDataPutByKey(t *testing.T) {
	c2 := strings.Replace(customerC1, `"id":"c1"`, `"id":"c2"`, 1)
	for _, c := range []struct {
		name, path, body string
		header           map[string]string
		status           int
		want             string
	}{
		{"its key", "/v1/data/Customer/c1", customerC1, nil, 200, `{"type":"Customer","key":"c1","version":2,"revision":1}`},
		{"at an old version", "/v1/data/Customer/c1?version=1", customerV1, nil, 200, `{"type":"Customer","key":"c1","version":2,"revision":1}`},
		{"a composite key", "/v1/data/Order/c1,o1", orderV1, nil, 200, `{"type":"Order","key":"c1,o1","version":1,"revision":1}`},
		{"another key", "/v1/data/Customer/c1", c2, nil, 400,
			`{"error":"key \"c1\" in the path, but the body has key \"c2\" (id): they must be the same"}`},
		{"another composite key", "/v1/data/Order/c1,o2", orderV1, nil, 400,
			`{"error":"key \"c1,o2\" in the path, but the body has key \"c1,o1\" (customer_id, id): they must be the same"}`},
		{"a key the type cannot have", "/v1/data/Order/c1", orderV1, nil, 400,
			`{"error":"key \"c1\" of Order: a key of Order is 2 values separated by commas, got 1"}`},
		{"an invalid body", "/v1/data/Customer/c1", `{"id":"c1"}`, nil, 400, `{"error":"$.first_name: required field missing"}`},
		{"If-None-Match", "/v1/data/Customer/c1", customerC1, map[string]string{"If-None-Match": "*"}, 200, `{"type":"Customer","key":"c1","version":2,"revision":1}`},
		{"If-Match of no object", "/v1/data/Customer/c1", customerC1, map[string]string{"If-Match": `"3"`}, 412,
			`{"error":"precondition failed: no object, expected revision 3"}`},
		{"an unknown type", "/v1/data/Nope/c1", customerC1, nil, 404, `{"error":"the model has no type \"Nope\""}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeData()
			srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
			defer srv.Close()
			got := callWith(t, srv, "PUT", c.path, c.header, c.body)
			if got.status != c.status || got.body != c.want {
				t.Errorf("PUT %s:\n got %d %s\nwant %d %s", c.path, got.status, got.body, c.status, c.want)
			}
			if c.status != 200 {
				if len(f.sent) > 0 && c.status == 400 {
					t.Errorf("a refused PUT sent %v", f.sent[0].Op)
				}
				return
			}
			if etag := got.header.Get("ETag"); etag != `"1"` {
				t.Errorf("ETag %q", etag)
			}
		})
	}
}

// TestDataPatch applies merge patches: fields changed, set to null and
// removed, the key kept, conditions, concurrent changes, and a patch
// that changes nothing.
func TestDataPatch(t *testing.T) {
	stored := func(t *testing.T, f *fakeData) { f.store(t, "Customer", customerC1) }
	with := func(edit ...string) string {
		s := customerC1
		for i := 0; i < len(edit); i += 2 {
			if !strings.Contains(s, edit[i]) {
				panic(edit[i])
			}
			s = strings.Replace(s, edit[i], edit[i+1], 1)
		}
		obj, err := model.Decode([]byte(s))
		if err != nil {
			panic(err)
		}
		return string(model.Encode(obj))
	}
	// concurrently has another client change the tier n times, before
	// the patch's writes.
	concurrently := func(n int) func(t *testing.T, f *fakeData) {
		return func(t *testing.T, f *fakeData) {
			stored(t, f)
			f.beforePut = func(f *fakeData) {
				if n == 0 {
					return
				}
				n--
				tier := []string{"gold", "basic"}[n%2]
				f.fakeModels.Do(context.Background(), kv.Request{Op: kv.OpPutObject, Key: "c1",
					Object: &kv.ObjectRequest{Type: "Customer", Value: []byte(strings.Replace(customerC1, `"tier":"basic"`, `"tier":"`+tier+`"`, 1))}})
			}
		}
	}
	for _, c := range []struct {
		name   string
		setup  func(t *testing.T, f *fakeData)
		path   string
		header map[string]string
		body   string
		status int
		want   string
		puts   int // put-objects sent, the concurrent writer's included
	}{
		{name: "a field", setup: stored, path: "/v1/data/Customer/c1", body: `{"tier":"gold"}`, status: 200,
			want: `{"type":"Customer","key":"c1","version":2,"revision":3,"object":` + with(`"tier":"basic"`, `"tier":"gold"`) + `}`, puts: 1},
		{name: "merge-patch+json", setup: stored, path: "/v1/data/Customer/c1", header: map[string]string{"Content-Type": "application/merge-patch+json"},
			body: `{"first_name":"Augusta Ada","newsletter":true}`, status: 200,
			want: `{"type":"Customer","key":"c1","version":2,"revision":3,"object":` +
				with(`"first_name":"Ada"`, `"first_name":"Augusta Ada"`, `"newsletter":false`, `"newsletter":true`) + `}`, puts: 1},
		{name: "null removes a field", setup: stored, path: "/v1/data/Customer/c1", body: `{"email":null}`, status: 200,
			want: `{"type":"Customer","key":"c1","version":2,"revision":3,"object":` + with(`"email":"ada@example.com"`, `"email":null`) + `}`, puts: 1},
		{name: "null removes a required field", setup: stored, path: "/v1/data/Customer/c1", body: `{"first_name":null}`, status: 400,
			want: `{"error":"the patched object: $.first_name: required field missing"}`},
		{name: "a field the type lacks", setup: stored, path: "/v1/data/Customer/c1", body: `{"emial":"x"}`, status: 400,
			want: `{"error":"the patched object: $: unknown field \"emial\" (did you mean email?)"}`},
		{name: "the key", setup: stored, path: "/v1/data/Customer/c1", body: `{"id":"c2"}`, status: 400,
			want: `{"error":"key \"c1\" in the path, but the patched object has key \"c2\" (id): they must be the same"}`},
		{name: "nothing changes", setup: stored, path: "/v1/data/Customer/c1", body: `{"tier":"basic"}`, status: 200,
			want: `{"type":"Customer","key":"c1","version":2,"revision":1,"object":` + with() + `}`},
		{name: "If-Match", setup: stored, path: "/v1/data/Customer/c1", header: map[string]string{"If-Match": `"1"`}, body: `{"tier":"gold"}`, status: 200,
			want: `{"type":"Customer","key":"c1","version":2,"revision":3,"object":` + with(`"tier":"basic"`, `"tier":"gold"`) + `}`, puts: 1},
		{name: "If-Match of another revision", setup: stored, path: "/v1/data/Customer/c1", header: map[string]string{"If-Match": `"7"`}, body: `{"tier":"gold"}`,
			status: 412, want: `{"error":"precondition failed: revision 1, expected 7"}`},
		{name: "If-Match of no object", path: "/v1/data/Customer/c1", header: map[string]string{"If-Match": `"7"`}, body: `{"tier":"gold"}`,
			status: 412, want: `{"error":"precondition failed: no object, expected revision 7"}`},
		{name: "If-None-Match", setup: stored, path: "/v1/data/Customer/c1", header: map[string]string{"If-None-Match": "*"}, body: `{}`, status: 400,
			want: `{"error":"If-None-Match does not apply to a patch: it changes an object that exists (PUT creates one)"}`},
		{name: "no object", path: "/v1/data/Customer/c1", body: `{"tier":"gold"}`, status: 404,
			want: `{"error":"Customer c1 not found: a patch changes an object that exists (PUT creates one)"}`},
		{name: "a changed object is patched again", setup: concurrently(1), path: "/v1/data/Customer/c1", body: `{"newsletter":true}`, status: 200,
			want: `{"type":"Customer","key":"c1","version":2,"revision":6,"object":` +
				with(`"tier":"basic"`, `"tier":"gold"`, `"newsletter":false`, `"newsletter":true`) + `}`, puts: 3},
		{name: "a changed object under If-Match", setup: concurrently(1), path: "/v1/data/Customer/c1", header: map[string]string{"If-Match": `"1"`},
			body: `{"newsletter":true}`, status: 412, want: `{"error":"precondition failed: revision 3, expected 1"}`, puts: 2},
		{name: "an object that keeps changing", setup: concurrently(100), path: "/v1/data/Customer/c1", body: `{"newsletter":true}`, status: 409,
			want: `{"error":"Customer c1 changed 5 times while it was patched: send the patch again"}`, puts: 10},
		{name: "not an object", setup: stored, path: "/v1/data/Customer/c1", body: `[1]`, status: 400,
			want: `{"error":"request body: want a JSON object, got an array (a merge patch of an object is a JSON object)"}`},
		{name: "not JSON", setup: stored, path: "/v1/data/Customer/c1", body: `{"tier":`, status: 400,
			want: `{"error":"request body: line 1, column 9: unexpected end of the JSON object (a merge patch of an object is a JSON object)"}`},
		{name: "another content type", setup: stored, path: "/v1/data/Customer/c1", header: map[string]string{"Content-Type": "text/html"}, body: `{}`,
			status: 415, want: `{"error":"Content-Type \"text/html\": want application/merge-patch+json"}`},
		{name: "a bad key", setup: stored, path: "/v1/data/Order/c1", body: `{}`, status: 400,
			want: `{"error":"key \"c1\" of Order: a key of Order is 2 values separated by commas, got 1"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeData()
			if c.setup != nil {
				c.setup(t, f)
			}
			before := len(f.sent)
			srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
			defer srv.Close()
			got := callWith(t, srv, "PATCH", c.path, c.header, c.body)
			if got.status != c.status || got.body != c.want {
				t.Errorf("PATCH %s %s:\n got %d %s\nwant %d %s", c.path, c.body, got.status, got.body, c.status, c.want)
			}
			puts := 0
			for _, req := range f.sent[before:] {
				if req.Op == kv.OpPutObject {
					puts++
				}
			}
			if puts != c.puts {
				t.Errorf("%d put-objects sent, want %d", puts, c.puts)
			}
			if c.status == 200 {
				var body ObjectBody
				json.Unmarshal([]byte(got.body), &body)
				if etag := got.header.Get("ETag"); etag != fmt.Sprintf(`"%d"`, body.Revision) {
					t.Errorf("ETag %s, revision %d", etag, body.Revision)
				}
				// What the answer says is what a read gives.
				read := callWith(t, srv, "GET", c.path, nil, "")
				if !strings.Contains(got.body, string(body.Object)) || !strings.HasSuffix(read.body, `"object":`+string(body.Object)+`}`) {
					t.Errorf("read back %s, want the patched object %s", read.body, body.Object)
				}
			}
		})
	}
}

// FuzzDataList: whatever the query of a listing, and whatever a PATCH's
// body, the answer is JSON, 2xx or 4xx, never 5xx; a listing that answers
// 200 lists Products in key order, and its next cursor is taken back.
func FuzzDataList(f *testing.F) {
	for _, s := range []string{
		"", "limit=2", "price[gt]=9&category[in]=books,toys", "attributes.color=red", "stock[lt]=x", "after=abc",
		"title[prefix]=p1&limit=1", "consistency=stale", "%zz", "sku[in]=p1\\,x,p2", "tags=t", "discontinued=true&image=AQID",
	} {
		f.Add(s, `{"stock":1}`)
	}
	fd := newFakeData()
	categories := []string{"books", "tools", "toys"}
	for i := range 7 {
		resp, err := fd.fakeModels.Do(context.Background(), kv.Request{Op: kv.OpPutObject, Key: fmt.Sprintf("p%d", i), Object: &kv.ObjectRequest{
			Type: "Product", Value: []byte(product(fmt.Sprintf("p%d", i), categories[i%3], fmt.Sprint(i), i, "red"))}})
		if err != nil || resp.Status != kv.StatusOK {
			f.Fatal(resp, err)
		}
	}
	h := NewAPI(fd, APIOptions{Logger: quiet})
	f.Fuzz(func(t *testing.T, rawQuery, patch string) {
		u := &url.URL{Path: "/v1/data/Product", RawQuery: rawQuery}
		rec := serveDirect(h, "GET", u, "", nil)
		body := checkAnswer(t, "GET "+u.String(), rec)
		if rec.Code == 200 {
			var list ListBody
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
				t.Fatal(err)
			}
			keys := make([]string, 0, len(list.Items))
			for _, it := range list.Items {
				keys = append(keys, model.EncodeKey(it.Key))
			}
			if !slices.IsSorted(keys) {
				t.Fatalf("GET %s: out of order: %s", u, rec.Body)
			}
			if list.Next != "" {
				values, _ := url.ParseQuery(rawQuery)
				values.Set("after", list.Next)
				next := serveDirect(h, "GET", &url.URL{Path: "/v1/data/Product", RawQuery: values.Encode()}, "", nil)
				if next.Code != 200 {
					t.Fatalf("GET %s: its next cursor: %d %s", u, next.Code, next.Body)
				}
			}
		} else if _, ok := body["error"]; !ok {
			t.Fatalf("GET %s: %d %s", u, rec.Code, rec.Body)
		}
		checkAnswer(t, "PATCH "+patch, serveDirect(h, "PATCH", &url.URL{Path: "/v1/data/Product/p1"}, "application/merge-patch+json", []byte(patch)))
	})
}

// TestDataListOrder lists in an index's order and in reverse orders
// through the API: order=INDEX and order=-INDEX (the objects with a null
// in the index after the others, before them reversed), order=-_key,
// with filters and pages across both replicasets; what each replicaset
// was asked; and the refusals of an unknown order and of a cursor of
// another order.
func TestDataListOrder(t *testing.T) {
	byCategory := skus(0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8) // books, tools, toys
	reversed := func(s []string) []string {
		s = slices.Clone(s)
		slices.Reverse(s)
		return s
	}
	customer := func(id, email string) string {
		return fmt.Sprintf(`{"id":%q,"first_name":"F","last_name":"L","email":%s,"created":"2024-01-01T00:00:00Z","tier":"basic","newsletter":false}`, id, email)
	}
	for _, c := range []struct {
		name  string
		path  string
		want  []string
		index string
		desc  bool
		exact bool // the entries of one key of the index
	}{
		{"an index", "/v1/data/Product?order=by_category&limit=3", byCategory, "by_category", false, false},
		{"an index reversed", "/v1/data/Product?order=-by_category&limit=2", reversed(byCategory), "by_category", true, false},
		{"an index and a filter", "/v1/data/Product?order=by_category&stock[lt]=6&limit=1", skus(6, 9, 7, 10, 5, 8), "by_category", false, false},
		{"the key reversed", "/v1/data/Product?order=-_key&limit=4", reversed(skus(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)), "", true, false},
		{"the key", "/v1/data/Product?order=_key&limit=4", skus(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), "", false, false},
		{"nulls last", "/v1/data/Customer?order=by_email&limit=2", []string{"c4", "c2", "c1", "c3", "c5"}, "by_email", false, false},
		{"nulls first reversed", "/v1/data/Customer?order=-by_email&limit=2", []string{"c5", "c3", "c1", "c2", "c4"}, "by_email", true, false},
		{"one key of an index", "/v1/data/Product?category=tools&limit=1", skus(1, 4, 7, 10), "by_category", false, true},
		{"one key reversed", "/v1/data/Product?category=tools&order=-_key&limit=3", reversed(skus(1, 4, 7, 10)), "by_category", true, true},
		{"one key and a filter", "/v1/data/Product?category=tools&stock[lt]=6&limit=1", skus(7, 10), "by_category", false, true},
		{"one key of a unique index reads the type", "/v1/data/Customer?email=b@x", []string{"c2"}, "", false, false},
		{"a prefix of a key reads the type", "/v1/data/Customer?email[prefix]=b", []string{"c2"}, "", false, false},
		{"one key in the order of another index", "/v1/data/Product?category=tools&order=by_category&limit=3", skus(1, 4, 7, 10), "by_category", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeData()
			products(f, t)
			f.store(t, "Customer", customer("c1", "null"), customer("c2", `"b@x"`), customer("c3", "null"), customer("c4", `"a@x"`), customer("c5", "null"))
			srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
			defer srv.Close()
			all, pages := listKeys(t, srv, c.path)
			if !slices.Equal(all, c.want) {
				t.Errorf("listed %q in %d pages, want %q", all, len(pages), c.want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.lists) != 2*len(pages) {
				t.Fatalf("%d list-objects for %d pages", len(f.lists), len(pages))
			}
			for i, req := range f.lists {
				if l := req.List; l.Index != c.index || l.Desc != c.desc || l.Exact != c.exact || l.Exact != (l.Key != "") {
					t.Errorf("list-objects %d ordered by %q, desc %v, exact %v %q; want %q, %v, %v", i, l.Index, l.Desc, l.Exact, l.Key, c.index, c.desc, c.exact)
				}
			}
		})
	}

	f := newFakeData()
	products(f, t)
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	got := callWith(t, srv, "GET", "/v1/data/Product?order=by_price", nil, "")
	if want := `{"error":"order \"by_price\": Product has no index \"by_price\" (one of _key, by_category): want INDEX, or -INDEX for the reverse order"}`; got.status != 400 || got.body != want {
		t.Errorf("an unknown index: %d %s\nwant 400 %s", got.status, got.body, want)
	}
	first := callWith(t, srv, "GET", "/v1/data/Product?order=by_category&limit=1", nil, "")
	var body ListBody
	if err := json.Unmarshal([]byte(first.body), &body); err != nil || body.Next == "" {
		t.Fatalf("a first page: %s (%v)", first.body, err)
	}
	for _, other := range []string{"", "order=-by_category&", "order=-_key&"} {
		got := callWith(t, srv, "GET", "/v1/data/Product?"+other+"after="+url.QueryEscape(body.Next), nil, "")
		if got.status != 400 || !strings.Contains(got.body, "the cursor belongs to a listing of another type or with other filters or order") {
			t.Errorf("a cursor of order=by_category with %q: %d %s", other, got.status, got.body)
		}
	}
}

// TestDataListDamagedCursor: a cursor whose binding matches the listing
// but whose position is no position of its order (forged, or damaged on
// the way) is the client's error, 400 naming the cursor, refused before
// any replicaset is asked and logged as nothing worse.
func TestDataListDamagedCursor(t *testing.T) {
	f := newFakeData()
	products(f, t)
	var log bytes.Buffer
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: slog.New(slog.NewTextHandler(&log, nil))}))
	first := callWith(t, srv, "GET", "/v1/data/Product?order=by_category&limit=1", nil, "")
	var body ListBody
	if err := json.Unmarshal([]byte(first.body), &body); err != nil || body.Next == "" {
		t.Fatalf("a first page: %s (%v)", first.body, err)
	}
	f.mu.Lock()
	asked := len(f.lists)
	f.mu.Unlock()
	for _, pos := range []string{"\x09p01", "\x01books", "\x01books\x00\x01\x05p01", "\x02"} {
		cursor := forge(t, body.Next, pos)
		got := callWith(t, srv, "GET", "/v1/data/Product?order=by_category&after="+url.QueryEscape(cursor), nil, "")
		want := `{"error":"after: a damaged cursor: it holds no position in the order by_category (pass a cursor as the listing gave it)"}`
		if got.status != 400 || got.body != want {
			t.Errorf("a cursor at %q: %d %s\nwant 400 %s", pos, got.status, got.body, want)
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

// forge is cursor, a cursor of the API's listings, holding pos instead
// of its position: its version and binding stay.
func forge(t *testing.T, cursor, pos string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) < 9 {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	return base64.RawURLEncoding.EncodeToString(append(b[:9:9], pos...))
}
