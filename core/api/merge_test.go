package api

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"pgregory.net/rapid"
)

// store is replicasets in memory: each maps primary keys to objects.
type store []map[string]model.Object

// placed is an object of a page: its primary key and its position.
type placed struct{ key, pos string }

// position is where the object with primary key k stands in the order
// o, as kv.ListOrder.Position says: Item's indexes by_age and by_note
// hold the field's value, encoded as the model encodes index keys.
func position(o Order, k string, obj model.Object) string {
	pos, _ := placedIn(o, k, obj)
	return pos
}

// placedIn is position, and whether a listing in o holds the object: in
// an exact order, only when its entry has the order's key.
func placedIn(o Order, k string, obj model.Object) (string, bool) {
	rec := kv.ObjectRecord{PK: k}
	field := map[string]string{"by_age": "age", "by_note": "note"}[o.Index]
	if v, ok := obj[field]; ok && v != nil {
		rec.Indexes = []kv.IndexEntry{{Index: o.Index, Key: model.EncodeKey(v)}}
	}
	in := !o.Exact || len(rec.Indexes) == 1 && rec.Indexes[0].Key == o.Key
	return kv.ListOrder{Index: o.Index, Desc: o.Desc}.Position(&rec), in
}

// before orders two positions in the order o.
func before(o Order, a, b string) int {
	if o.Desc {
		return strings.Compare(b, a)
	}
	return strings.Compare(a, b)
}

// page is a replicaset's answer, as kv.Machine.ListObjects gives it: in
// the query's plan after its After (of the index's entries of one key
// alone, for an exact plan), at most scan objects examined, at most
// limit kept.
func (s store) page(rs int, q *Query, scan int) Page[placed] {
	var objs []placed
	for k, obj := range s[rs] {
		if pos, in := placedIn(q.Plan, k, obj); in && (q.After == "" || before(q.Plan, pos, q.After) > 0) {
			objs = append(objs, placed{k, pos})
		}
	}
	slices.SortFunc(objs, func(a, b placed) int { return before(q.Plan, a.pos, b.pos) })
	var p Page[placed]
	examined := 0
	for _, o := range objs {
		if examined == scan || len(p.Items) == q.Limit {
			p.More = true
			break
		}
		examined++
		p.Last = o.pos
		if q.Match(s[rs][o.key]) {
			p.Items = append(p.Items, o)
		}
	}
	return p
}

// list asks every replicaset and merges their pages.
func (s store) list(t tb, q *Query, scan int) (items []string, next string, more bool) {
	t.Helper()
	pages := make([]Page[placed], len(s))
	for rs := range s {
		pages[rs] = s.page(rs, q, scan)
	}
	merged, next, more, err := Merge(q.Plan.Desc, q.After, q.Limit, pages, func(p placed) string { return p.pos }, func(p placed) string { return p.key })
	if err != nil {
		t.Fatal(err)
	}
	if len(merged) > q.Limit {
		t.Fatalf("a page of %d items over its limit %d", len(merged), q.Limit)
	}
	if more && q.After != "" && before(q.Plan, next, q.After) <= 0 {
		t.Fatalf("the next page starts after %q, not past %q", next, q.After)
	}
	for _, p := range merged {
		items = append(items, p.key)
	}
	return items, next, more
}

// listAll follows the cursors from the first page to the last, each
// cursor read back from the URL a client sends, with the page sizes
// limits gives in turn. between runs before each page after the first.
func (s store) listAll(t tb, typ *model.Type, filters string, limits []int, scan int, between func()) ([]string, [][]string) {
	t.Helper()
	var all []string
	var pages [][]string
	cursor := ""
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("the listing does not end")
		}
		values, err := url.ParseQuery(filters)
		if err != nil {
			t.Fatal(err)
		}
		values.Set("limit", strconv.Itoa(limits[i%len(limits)]))
		if cursor != "" {
			values.Set("after", cursor)
			if between != nil {
				between()
			}
		}
		q, err := ParseQuery(typ, values)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		items, next, more := s.list(t, &q, scan)
		all = append(all, items...)
		pages = append(pages, items)
		if !more {
			return all, pages
		}
		cursor = q.Cursor(next)
	}
}

// matching is every object of s that q's filters keep, in the query's
// order (key order unless the filters name one).
func (s store) matching(t tb, typ *model.Type, filters string) []string {
	t.Helper()
	q, err := parse(t, typ, filters)
	if err != nil {
		t.Fatal(err)
	}
	var out []placed
	for _, rs := range s {
		for k, obj := range rs {
			if q.Match(obj) {
				out = append(out, placed{k, position(q.Order, k, obj)})
			}
		}
	}
	slices.SortFunc(out, func(a, b placed) int { return before(q.Order, a.pos, b.pos) })
	var keys []string
	for _, p := range out {
		keys = append(keys, p.key)
	}
	return keys
}

// tb is what the helpers need of a test: *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func ageObject(age int) model.Object { return model.Object{"age": int64(age)} }

// twoReplicasets holds Owners k00..k(n-1) with age i, even keys in the
// first replicaset and odd ones in the second.
func twoReplicasets(n int) store {
	s := store{{}, {}}
	for i := range n {
		s[i%2][fmt.Sprintf("k%02d", i)] = ageObject(i)
	}
	return s
}

func keys(from, to, step int) []string {
	var out []string
	for i := from; i < to; i += step {
		out = append(out, fmt.Sprintf("k%02d", i))
	}
	return out
}

// TestPagination pins the edges of a listing: no objects, no match, one
// page exactly, the last page, pages of one, a filter that matches
// little under a small scan bound, and a cursor whose object is gone.
func TestPagination(t *testing.T) {
	typ := testType(t, "Item")
	for _, c := range []struct {
		name    string
		s       store
		filters string
		limits  []int
		scan    int
		want    [][]string
	}{
		{"no objects", store{{}, {}}, "", []int{10}, 1000, [][]string{nil}},
		{"no replicaset", store{}, "", []int{10}, 1000, [][]string{nil}},
		{"nothing matches", twoReplicasets(10), "age[gt]=100", []int{10}, 1000, [][]string{nil}},
		{"one page exactly", twoReplicasets(4), "", []int{4}, 1000, [][]string{keys(0, 4, 1)}},
		{"one page with room", twoReplicasets(4), "", []int{100}, 1000, [][]string{keys(0, 4, 1)}},
		{"a last short page", twoReplicasets(5), "", []int{2}, 1000, [][]string{keys(0, 2, 1), keys(2, 4, 1), keys(4, 5, 1)}},
		{"the last page full", twoReplicasets(4), "", []int{2}, 1000, [][]string{keys(0, 2, 1), keys(2, 4, 1)}},
		// The replicaset filled its page with an object after it, which
		// the filter turns out not to keep.
		{"a last empty page", store{{"k00": ageObject(0), "k01": ageObject(9)}}, "age[lt]=5", []int{1}, 1000, [][]string{{"k00"}, nil}},
		{"pages of one", twoReplicasets(3), "", []int{1}, 1000, [][]string{{"k00"}, {"k01"}, {"k02"}}},
		{"a filter", twoReplicasets(10), "age[ge]=5", []int{3}, 1000, [][]string{keys(5, 8, 1), keys(8, 10, 1)}},
		{"a filter on one replicaset", twoReplicasets(10), "age[in]=1,3,5,7,9", []int{10}, 1000, [][]string{keys(1, 10, 2)}},
		// Under a scan bound of 3, the first replicaset stops at k04 and
		// the second at k05: the first page ends at k04 and holds nothing.
		{"a scan bound before any match", twoReplicasets(10), "age[ge]=8", []int{3}, 3,
			[][]string{nil, {"k08", "k09"}}},
		{"a scan bound cuts the page", twoReplicasets(12), "age[in]=1,2,11", []int{3}, 3,
			[][]string{{"k01", "k02"}, nil, {"k11"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			all, pages := c.s.listAll(t, typ, c.filters, c.limits, c.scan, nil)
			if fmt.Sprint(pages) != fmt.Sprint(c.want) {
				t.Errorf("pages %q, want %q", pages, c.want)
			}
			if want := c.s.matching(t, typ, c.filters); !slices.Equal(all, want) {
				t.Errorf("listed %q, want %q", all, want)
			}
		})
	}

	t.Run("the cursor's object deleted", func(t *testing.T) {
		s := twoReplicasets(6)
		q, _ := parse(t, typ, "limit=2")
		first, next, more := s.list(t, &q, 1000)
		if !slices.Equal(first, keys(0, 2, 1)) || !more || next != "k01" {
			t.Fatalf("first page %q, next %q (%v)", first, next, more)
		}
		delete(s[1], "k01")
		delete(s[0], "k00")
		q2, err := ParseQuery(typ, url.Values{"limit": {"10"}, "after": {q.Cursor(next)}})
		if err != nil {
			t.Fatal(err)
		}
		rest, _, more := s.list(t, &q2, 1000)
		if !slices.Equal(rest, keys(2, 6, 1)) || more {
			t.Errorf("after the deleted k01: %q (more %v)", rest, more)
		}
	})
}

// TestMerge checks Merge on hand-made pages: duplicates (by key, at one
// position or two), bounds, and pages that break their contract.
func TestMerge(t *testing.T) {
	id := func(k string) string { return k }
	items, next, more, err := Merge(false, "a", 10, []Page[string]{
		{Items: []string{"b", "d"}},
		{Items: []string{"c", "d"}, More: true, Last: "e"},
		{Items: []string{"f"}},
	}, id, id)
	if err != nil || !slices.Equal(items, []string{"b", "c", "d"}) || next != "e" || !more {
		t.Errorf("merged %q, next %q (%v), %v", items, next, more, err)
	}
	items, next, more, err = Merge(false, "", 2, []Page[string]{{Items: []string{"a", "c"}}, {Items: []string{"b"}}}, id, id)
	if err != nil || !slices.Equal(items, []string{"a", "b"}) || next != "b" || !more {
		t.Errorf("merged %q, next %q (%v), %v", items, next, more, err)
	}
	items, _, more, err = Merge[string](false, "", 2, nil, id, id)
	if err != nil || items != nil || more {
		t.Errorf("no pages: %q (%v), %v", items, more, err)
	}
	// Descending: the same pages, mirrored.
	items, next, more, err = Merge(true, "g", 10, []Page[string]{
		{Items: []string{"f", "d"}},
		{Items: []string{"e", "d"}, More: true, Last: "c"},
		{Items: []string{"b"}},
	}, id, id)
	if err != nil || !slices.Equal(items, []string{"f", "e", "d"}) || next != "c" || !more {
		t.Errorf("descending: merged %q, next %q (%v), %v", items, next, more, err)
	}
	items, next, more, err = Merge(true, "", 2, []Page[string]{{Items: []string{"c", "a"}}, {Items: []string{"b"}}}, id, id)
	if err != nil || !slices.Equal(items, []string{"c", "b"}) || next != "b" || !more {
		t.Errorf("descending from the first: merged %q, next %q (%v), %v", items, next, more, err)
	}
	// One object on two replicasets (its bucket moving) at two places of
	// an index's order, each copy's entry as its replicaset read it: it
	// comes once, at the first of them, whichever the direction.
	pos := func(p placed) string { return p.pos }
	key := func(p placed) string { return p.key }
	moved := []Page[placed]{
		{Items: []placed{{"k1", "a1"}, {"k3", "c3"}}},
		{Items: []placed{{"k2", "b2"}, {"k1", "d1"}}},
	}
	for _, c := range []struct {
		desc bool
		want []placed
	}{
		{false, []placed{{"k1", "a1"}, {"k2", "b2"}, {"k3", "c3"}}},
		{true, []placed{{"k1", "d1"}, {"k3", "c3"}, {"k2", "b2"}}},
	} {
		pages := moved
		if c.desc {
			pages = []Page[placed]{
				{Items: []placed{{"k3", "c3"}, {"k1", "a1"}}},
				{Items: []placed{{"k1", "d1"}, {"k2", "b2"}}},
			}
		}
		items, _, more, err := Merge(c.desc, "", 10, pages, pos, key)
		if err != nil || !slices.Equal(items, c.want) || more {
			t.Errorf("one object at two places, desc %v: merged %q (%v), %v; want %q", c.desc, items, more, err, c.want)
		}
	}
	// A page cut at the limit counts the object once.
	items2, next, more, err := Merge(false, "", 2, moved, pos, key)
	if err != nil || !slices.Equal(items2, []placed{{"k1", "a1"}, {"k2", "b2"}}) || next != "b2" || !more {
		t.Errorf("one object at two places, a limit of 2: merged %q, next %q (%v), %v", items2, next, more, err)
	}
	for _, c := range []struct {
		name  string
		desc  bool
		after string
		pages []Page[string]
		want  string
	}{
		{"out of order", false, "", []Page[string]{{Items: []string{"b", "a"}}}, `page 0: object 1 is at "a", not past "b"`},
		{"a duplicate in one page", false, "", []Page[string]{{Items: []string{"a", "a"}}}, `page 0: object 1 is at "a", not past "a"`},
		{"not past after", false, "b", []Page[string]{{}, {Items: []string{"b"}}}, `page 1: object 0 is at "b", not past "b"`},
		{"an empty key", false, "", []Page[string]{{Items: []string{""}}}, `page 0: object 0 is at "", not past ""`},
		{"more before after", false, "b", []Page[string]{{More: true, Last: "a"}}, `page 0 has more after "a", before its last object "b" or not past "b"`},
		{"more at after", false, "b", []Page[string]{{More: true, Last: "b"}}, `page 0 has more after "b"`},
		{"more before its last", false, "", []Page[string]{{Items: []string{"c"}, More: true, Last: "b"}}, `page 0 has more after "b", before its last object "c"`},
		{"descending out of order", true, "", []Page[string]{{Items: []string{"a", "b"}}}, `page 0: object 1 is at "b", not past "a"`},
		{"descending not past after", true, "b", []Page[string]{{Items: []string{"c"}}}, `page 0: object 0 is at "c", not past "b"`},
		{"descending an empty key", true, "", []Page[string]{{Items: []string{""}}}, `page 0: object 0 is at "", not past ""`},
		{"descending more before after", true, "b", []Page[string]{{More: true, Last: "c"}}, `page 0 has more after "c"`},
		{"descending more with no last", true, "", []Page[string]{{More: true}}, `page 0 has more after ""`},
	} {
		if _, _, _, err := Merge(c.desc, c.after, 10, c.pages, id, id); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, _, _, err := Merge[string](false, "", 0, nil, id, id); err == nil {
		t.Error("a limit of 0")
	}
}

// TestPropListing: whatever the objects, their spread over replicasets,
// the filter, the page sizes and the scan bound, following the cursors
// lists exactly the objects that match, once each, in key order; and
// while objects are deleted between pages, every object that stays is
// listed once if it matches, nothing is listed twice, and the order
// holds.
func TestPropListing(t *testing.T) {
	typ := testType(t, "Item")
	rapid.Check(t, func(rt *rapid.T) {
		nrs := rapid.IntRange(1, 4).Draw(rt, "replicasets")
		s := make(store, nrs)
		for i := range s {
			s[i] = map[string]model.Object{}
		}
		n := rapid.IntRange(0, 40).Draw(rt, "objects")
		for range n {
			// Keys of a small alphabet, prefixes of each other included.
			k := rapid.StringMatching(`[ab\x00]{1,4}`).Draw(rt, "key")
			for _, rs := range s {
				delete(rs, k)
			}
			s[rapid.IntRange(0, nrs-1).Draw(rt, "replicaset")][k] = ageObject(rapid.IntRange(0, 9).Draw(rt, "age"))
		}
		filters := rapid.SampledFrom([]string{"", "age[ge]=5", "age[in]=0,9", "age[lt]=0", "age[ne]=3", "age=3", "age=3&age[ne]=3"}).Draw(rt, "filters")
		limits := rapid.SliceOfN(rapid.IntRange(1, 5), 1, 4).Draw(rt, "limits")
		scan := rapid.IntRange(5, 12).Draw(rt, "scan") // at least the largest limit, as a replicaset's is
		deletes := rapid.Bool().Draw(rt, "deletes")
		if !deletes {
			all, _ := s.listAll(rt, typ, filters, limits, scan, nil)
			if want := s.matching(rt, typ, filters); !slices.Equal(all, want) {
				rt.Fatalf("listed %q, want %q", all, want)
			}
			return
		}
		before := s.matching(rt, typ, filters)
		deleted := map[string]bool{}
		all, _ := s.listAll(rt, typ, filters, limits, scan, func() {
			if len(before) == 0 || !rapid.Bool().Draw(rt, "delete one") {
				return
			}
			k := rapid.SampledFrom(before).Draw(rt, "deleted")
			deleted[k] = true
			for _, rs := range s {
				delete(rs, k)
			}
		})
		if !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
			rt.Fatalf("listed %q: out of order or twice", all)
		}
		for _, k := range all {
			if !slices.Contains(before, k) {
				rt.Fatalf("listed %q, which never matched", k)
			}
		}
		for _, k := range before {
			if !deleted[k] && !slices.Contains(all, k) {
				rt.Fatalf("%q matched throughout and was not listed (listed %q)", k, all)
			}
		}
	})
}

// TestPropOrderedListing: in any order (an index with nulls and ties,
// or the primary key, ascending or descending), whatever the objects,
// their spread, the filter, the page sizes and the scan bound, following
// the cursors lists the objects that match once each in that order; and
// while objects are deleted between pages, every object that matched
// throughout is listed once, nothing twice, and the order holds.
func TestPropOrderedListing(t *testing.T) {
	typ := testType(t, "Item")
	rapid.Check(t, func(rt *rapid.T) {
		nrs := rapid.IntRange(1, 4).Draw(rt, "replicasets")
		s := make(store, nrs)
		for i := range s {
			s[i] = map[string]model.Object{}
		}
		for range rapid.IntRange(0, 40).Draw(rt, "objects") {
			k := rapid.StringMatching(`[ab\x00]{1,4}`).Draw(rt, "key")
			for _, rs := range s {
				delete(rs, k)
			}
			obj := ageObject(rapid.IntRange(0, 4).Draw(rt, "age"))
			if note := rapid.SampledFrom([]string{"", "x", "x\x00", "y", "null"}).Draw(rt, "note"); note != "null" {
				obj["note"] = note
			}
			s[rapid.IntRange(0, nrs-1).Draw(rt, "replicaset")][k] = obj
		}
		order := rapid.SampledFrom([]string{"_key", "-_key", "by_age", "-by_age", "by_note", "-by_note"}).Draw(rt, "order")
		// An eq on an index's field reads that index's entries of one key
		// in primary key order: what the scan would have listed.
		filters := rapid.SampledFrom([]string{"", "&age[ge]=2", "&age[ne]=3", "&note[prefix]=x", "&age=2", "&note=x", "&note=x&age[ne]=3"}).Draw(rt, "filters")
		filters = "order=" + url.QueryEscape(order) + filters
		limits := rapid.SliceOfN(rapid.IntRange(1, 5), 1, 4).Draw(rt, "limits")
		scan := rapid.IntRange(5, 12).Draw(rt, "scan")
		q, err := parse(rt, typ, filters)
		if err != nil {
			rt.Fatal(err)
		}
		before := s.matching(rt, typ, filters)
		where := map[string]string{}
		for _, rs := range s {
			for k, obj := range rs {
				where[k] = position(q.Order, k, obj)
			}
		}
		deleted := map[string]bool{}
		deletes := rapid.Bool().Draw(rt, "deletes")
		all, _ := s.listAll(rt, typ, filters, limits, scan, func() {
			if !deletes || len(before) == 0 || !rapid.Bool().Draw(rt, "delete one") {
				return
			}
			k := rapid.SampledFrom(before).Draw(rt, "deleted")
			deleted[k] = true
			for _, rs := range s {
				delete(rs, k)
			}
		})
		if !deletes && !slices.Equal(all, before) {
			rt.Fatalf("listed %q, want %q", all, before)
		}
		for i := 1; i < len(all); i++ {
			if beforeIn := strings.Compare(where[all[i-1]], where[all[i]]); beforeIn == 0 || (beforeIn > 0) != q.Order.Desc {
				rt.Fatalf("listed %q: out of order or twice at %d", all, i)
			}
		}
		for _, k := range before {
			if !deleted[k] && !slices.Contains(all, k) {
				rt.Fatalf("%q matched throughout and was not listed (listed %q)", k, all)
			}
		}
		for _, k := range all {
			if !slices.Contains(before, k) {
				rt.Fatalf("listed %q, which never matched", k)
			}
		}
	})
}

// TestOrderCompare: positions compare byte by byte, reversed when
// descending, and "" comes first either way.
func TestOrderCompare(t *testing.T) {
	for _, c := range []struct {
		desc bool
		a, b string
		want int
	}{
		{false, "a", "b", -1}, {true, "a", "b", 1},
		{false, "b", "a", 1}, {true, "b", "a", -1},
		{false, "a", "a", 0}, {true, "a", "a", 0},
		{false, "", "a", -1}, {true, "", "a", -1},
		{false, "a", "", 1}, {true, "a", "", 1},
		{false, "", "", 0}, {true, "", "", 0},
		{false, "a", "a\x00", -1}, {true, "a", "a\x00", 1},
	} {
		if got := (Order{Desc: c.desc}).Compare(c.a, c.b); got != c.want {
			t.Errorf("desc %v: Compare(%q, %q) = %d, want %d", c.desc, c.a, c.b, got, c.want)
		}
	}
}
