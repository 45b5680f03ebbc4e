package api

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/model"
	"pgregory.net/rapid"
)

// store is replicasets in memory: each maps primary keys to objects.
type store []map[string]model.Object

// page is a replicaset's answer, as kv.Machine.ListObjects gives it: in
// key order after after, at most scan objects examined, at most limit
// kept.
func (s store) page(rs int, q *Query, scan int) Page[string] {
	var keys []string
	for k := range s[rs] {
		if k > q.After {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var p Page[string]
	examined := 0
	for i, k := range keys {
		if examined == scan || len(p.Items) == q.Limit {
			p.More = true
			break
		}
		examined++
		p.Last = keys[i]
		if q.Match(s[rs][k]) {
			p.Items = append(p.Items, k)
		}
	}
	return p
}

// list asks every replicaset and merges their pages.
func (s store) list(t tb, q *Query, scan int) (items []string, next string, more bool) {
	t.Helper()
	pages := make([]Page[string], len(s))
	for rs := range s {
		pages[rs] = s.page(rs, q, scan)
	}
	items, next, more, err := Merge(q.After, q.Limit, pages, func(k string) string { return k })
	if err != nil {
		t.Fatal(err)
	}
	if len(items) > q.Limit {
		t.Fatalf("a page of %d items over its limit %d", len(items), q.Limit)
	}
	if more && next <= q.After {
		t.Fatalf("the next page starts after %q, not past %q", next, q.After)
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

// matching is every object of s that q's filters keep, in key order.
func (s store) matching(t tb, typ *model.Type, filters string) []string {
	t.Helper()
	q, err := parse(t, typ, filters)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rs := range s {
		for k, obj := range rs {
			if q.Match(obj) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
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

// TestMerge checks Merge on hand-made pages: duplicates, bounds, and
// pages that break their contract.
func TestMerge(t *testing.T) {
	id := func(k string) string { return k }
	items, next, more, err := Merge("a", 10, []Page[string]{
		{Items: []string{"b", "d"}},
		{Items: []string{"c", "d"}, More: true, Last: "e"},
		{Items: []string{"f"}},
	}, id)
	if err != nil || !slices.Equal(items, []string{"b", "c", "d"}) || next != "e" || !more {
		t.Errorf("merged %q, next %q (%v), %v", items, next, more, err)
	}
	items, next, more, err = Merge("", 2, []Page[string]{{Items: []string{"a", "c"}}, {Items: []string{"b"}}}, id)
	if err != nil || !slices.Equal(items, []string{"a", "b"}) || next != "b" || !more {
		t.Errorf("merged %q, next %q (%v), %v", items, next, more, err)
	}
	items, _, more, err = Merge[string]("", 2, nil, id)
	if err != nil || items != nil || more {
		t.Errorf("no pages: %q (%v), %v", items, more, err)
	}
	for _, c := range []struct {
		name  string
		after string
		pages []Page[string]
		want  string
	}{
		{"out of order", "", []Page[string]{{Items: []string{"b", "a"}}}, `page 0: object 1 has key "a", not past "b"`},
		{"a duplicate in one page", "", []Page[string]{{Items: []string{"a", "a"}}}, `page 0: object 1 has key "a", not past "a"`},
		{"not past after", "b", []Page[string]{{}, {Items: []string{"b"}}}, `page 1: object 0 has key "b", not past "b"`},
		{"an empty key", "", []Page[string]{{Items: []string{""}}}, `page 0: object 0 has key "", not past ""`},
		{"more before after", "b", []Page[string]{{More: true, Last: "a"}}, `page 0 has more after "a", before its last object "b" or not past "b"`},
		{"more at after", "b", []Page[string]{{More: true, Last: "b"}}, `page 0 has more after "b"`},
		{"more before its last", "", []Page[string]{{Items: []string{"c"}, More: true, Last: "b"}}, `page 0 has more after "b", before its last object "c"`},
	} {
		if _, _, _, err := Merge(c.after, 10, c.pages, id); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, _, _, err := Merge[string]("", 0, nil, id); err == nil {
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
		filters := rapid.SampledFrom([]string{"", "age[ge]=5", "age[in]=0,9", "age[lt]=0", "age[ne]=3"}).Draw(rt, "filters")
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
