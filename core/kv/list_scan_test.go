package kv

import (
	"slices"
	"testing"
)

// An Exact listing read ByScan answers what the entries answer, at the
// same positions and page by page, in either direction, when the entries
// are complete; and it finds an object stored without its entry, which
// the entries do not list.
func TestListObjectsExactByScan(t *testing.T) {
	o := newObjects(t)
	group := map[string]string{}
	put := func(pk, g string, entry bool) {
		t.Helper()
		var es []IndexEntry
		if entry {
			es = []IndexEntry{{Index: "by_group", Key: g}}
		}
		if r := o.put(ObjectWrite{Type: "user", PK: pk, Version: 1, Value: []byte(`{}`), Indexes: es}); r.Status != StatusOK {
			t.Fatalf("put %s: %+v", pk, r)
		}
		group[pk] = g
	}
	for i, g := range []string{"b", "a", "b", "c", "b", "ab", "b"} {
		put(string(rune('0'+i)), g, true)
	}
	// What the node's keep does for a listing ByScan: only the objects
	// whose entry of the model in force has the key.
	inGroup := func(key string) func(*ObjectRecord) (bool, error) {
		return func(r *ObjectRecord) (bool, error) { return group[r.PK] == key, nil }
	}
	pages := func(order ListOrder, keep func(*ObjectRecord) (bool, error), limit int) (pks, positions []string) {
		t.Helper()
		after := ""
		for range 20 {
			p, err := o.m.ListObjects("user", order, after, limit, limit, keep)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Objects {
				pks = append(pks, r.PK)
				positions = append(positions, order.Position(&r))
			}
			if !p.More {
				return pks, positions
			}
			after = p.Last
		}
		t.Fatal("the listing did not end")
		return nil, nil
	}
	for _, desc := range []bool{false, true} {
		for _, limit := range []int{1, 2, 100} {
			entries := ListOrder{Index: "by_group", Exact: true, Key: "b", Desc: desc}
			scan := entries
			scan.ByScan = true
			want, wantPos := pages(entries, inGroup("b"), limit)
			got, gotPos := pages(scan, inGroup("b"), limit)
			if !slices.Equal(got, want) || !slices.Equal(gotPos, wantPos) || len(want) != 4 {
				t.Errorf("desc %v, pages of %d: by scan %q at %q, by the entries %q at %q", desc, limit, got, gotPos, want, wantPos)
			}
		}
	}
	// An object stored before the index had its entry.
	put("9", "b", false)
	entries := ListOrder{Index: "by_group", Exact: true, Key: "b"}
	scan := entries
	scan.ByScan = true
	if got, _ := pages(entries, inGroup("b"), 100); slices.Contains(got, "9") {
		t.Fatalf("the entries list an object without one: %q", got)
	}
	if got, _ := pages(scan, inGroup("b"), 100); !slices.Equal(got, []string{"0", "2", "4", "6", "9"}) {
		t.Errorf("by scan: %q, want every object of group b", got)
	}
	// A position of another key resumes as in the entries: before Key's
	// from the first object, after it nowhere.
	before := string(entryPosition(IndexEntry{Index: "by_group", Key: "a"}, "5"))
	after := string(entryPosition(IndexEntry{Index: "by_group", Key: "c"}, "0"))
	for _, c := range []struct {
		from string
		want int
	}{{before, 5}, {after, 0}} {
		p, err := o.m.ListObjects("user", scan, c.from, 100, 100, inGroup("b"))
		if err != nil || len(p.Objects) != c.want {
			t.Errorf("from %q: %d objects, %v; want %d", c.from, len(p.Objects), err, c.want)
		}
	}
}
