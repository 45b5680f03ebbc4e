package kv

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestListObjectsByIndex pins a listing in an index's order: entries by
// key and primary key, a unique entry before the others of its key, the
// objects without an entry after them (before them descending), and
// each kept record carrying the entry that placed it.
func TestListObjectsByIndex(t *testing.T) {
	o := newObjects(t)
	put := func(pk string, es ...IndexEntry) {
		t.Helper()
		w := ObjectWrite{Type: "user", PK: pk, Version: 1, Value: []byte(`{}`), Indexes: es}
		if r := o.put(w); r.Status != StatusOK {
			t.Fatalf("put %s: %+v", pk, r)
		}
	}
	g := func(key string) IndexEntry { return IndexEntry{Index: "by_group", Key: key} }
	// A unique entry first: a unique one would conflict with the others.
	put("u5", IndexEntry{Index: "by_group", Key: "b", Unique: true})
	put("u1", g("b"))
	put("u2", g("a"))
	put("u3")                                                  // no entry: a null group
	put("u4", g("b"), IndexEntry{Index: "by_email", Key: "x"}) // another index does not count
	put("u0", g("a\x00"))
	put("u6")
	o.put(ObjectWrite{Type: "user", PK: "u7", Version: 1, Value: []byte(`{}`), Indexes: []IndexEntry{g("c")}})
	o.del(ObjectWrite{Type: "user", PK: "u7"})

	asc := []string{"u2", "u0", "u5", "u1", "u4", "u3", "u6"}
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	all := func(*ObjectRecord) (bool, error) { return true, nil }
	for _, c := range []struct {
		name string
		desc bool
		want []string
	}{{"ascending", false, asc}, {"descending", true, desc}} {
		t.Run(c.name, func(t *testing.T) {
			order := ListOrder{Index: "by_group", Desc: c.desc}
			p, err := o.m.ListObjects("user", order, "", 100, 100, all)
			if err != nil {
				t.Fatal(err)
			}
			var pks []string
			for _, r := range p.Objects {
				pks = append(pks, r.PK)
				var want []IndexEntry
				for _, e := range mustGet(t, o, r.PK).Indexes {
					if e.Index == "by_group" {
						want = append(want, e)
					}
				}
				if !slices.Equal(r.Indexes, want) {
					t.Errorf("%s placed by %+v, want %+v", r.PK, r.Indexes, want)
				}
			}
			if !slices.Equal(pks, c.want) || p.More || p.Last != order.Position(&p.Objects[len(p.Objects)-1]) {
				t.Fatalf("listed %q, more %v, last %q; want %q", pks, p.More, p.Last, c.want)
			}
			// From every position, one object at a time, and after each.
			var got []string
			after := ""
			for range 3 * (len(c.want) + 1) {
				p, err := o.m.ListObjects("user", order, after, 1, 1, all)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Objects {
					got = append(got, r.PK)
				}
				if !p.More {
					break
				}
				after = p.Last
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("one at a time: %q, want %q", got, c.want)
			}
		})
	}

	// An index no object has lists every object, in primary key order.
	p, err := o.m.ListObjects("user", ListOrder{Index: "by_age"}, "", 100, 100, all)
	if err != nil || len(p.Objects) != 7 || p.Objects[0].PK != "u0" || p.More {
		t.Errorf("an index without entries: %+v, %v", p, err)
	}
	// Primary key order, descending, from a key.
	p, err = o.m.ListObjects("user", ListOrder{Desc: true}, "u3", 100, 100, all)
	if err != nil || len(p.Objects) != 3 || p.Objects[0].PK != "u2" || p.Objects[2].PK != "u0" || p.Last != "u0" || p.More {
		t.Errorf("descending from u3: %+v, %v", p, err)
	}

	for _, c := range []struct {
		name  string
		order ListOrder
		after string
	}{
		{"an exact key without an index", ListOrder{Exact: true, Key: "b"}, ""},
		{"a key without exact", ListOrder{Index: "by_group", Key: "b"}, ""},
		{"an exact key too long", ListOrder{Index: "by_group", Exact: true, Key: strings.Repeat("k", MaxIndexKeyLen+1)}, ""},
		{"a phase byte of no phase", ListOrder{Index: "by_group"}, "\x03u1"},
		{"a null position without its key", ListOrder{Index: "by_group"}, "\x02"},
		{"an entry key without its end", ListOrder{Index: "by_group"}, "\x01b"},
		{"no uniqueness byte", ListOrder{Index: "by_group"}, "\x01b\x00\x01"},
		{"a uniqueness byte of 2", ListOrder{Index: "by_group"}, "\x01b\x00\x01\x02u1"},
		{"an index name with a zero byte", ListOrder{Index: "by\x00group"}, ""},
		{"a position too long", ListOrder{}, strings.Repeat("x", MaxListPosition+1)},
	} {
		if _, err := o.m.ListObjects("user", c.order, c.after, 1, 1, all); err == nil {
			t.Errorf("%s: no error", c.name)
		} else if c.order.Index != "" && c.after != "" && c.order.CheckPosition(c.after) == nil {
			t.Errorf("%s: CheckPosition accepts what ListObjects refuses", c.name)
		}
	}
}

// TestListObjectsExactKey pins a listing of one index key: the entries
// of that key alone (not those of a key it is a prefix of, nor the
// objects without an entry), a unique entry first, then by primary key;
// reversed with Desc; one at a time through positions; the filter still
// judging what the entries find; and positions of other keys and of
// objects without an entry resuming where they stand in the index's
// order.
func TestListObjectsExactKey(t *testing.T) {
	o := newObjects(t)
	put := func(pk string, es ...IndexEntry) {
		t.Helper()
		if r := o.put(ObjectWrite{Type: "user", PK: pk, Version: 1, Value: []byte(`{}`), Indexes: es}); r.Status != StatusOK {
			t.Fatalf("put %s: %+v", pk, r)
		}
	}
	g := func(key string) IndexEntry { return IndexEntry{Index: "by_group", Key: key} }
	email := func(key string) IndexEntry { return IndexEntry{Index: "by_email", Key: key, Unique: true} }
	put("u5", IndexEntry{Index: "by_group", Key: "b", Unique: true}, email("e5"))
	put("u1", g("b"), email("e1"))
	put("u2", g("a"), email("e"))
	put("u3", email("e\x00")) // no group
	put("u4", g("b"))
	put("u0", g("ab"), email("e1x"))
	put("u6", g("b\x00"))
	put("u8", g("b"))
	o.del(ObjectWrite{Type: "user", PK: "u8"})

	all := func(*ObjectRecord) (bool, error) { return true, nil }
	list := func(order ListOrder, after string, limit int, keep func(*ObjectRecord) (bool, error)) ([]string, ListPage) {
		t.Helper()
		p, err := o.m.ListObjects("user", order, after, limit, limit, keep)
		if err != nil {
			t.Fatal(err)
		}
		var pks []string
		for _, r := range p.Objects {
			pks = append(pks, r.PK)
			if want := order.Position(&r); !strings.HasPrefix(want, "\x01") {
				t.Errorf("%s listed at %q, not by an entry", r.PK, want)
			}
		}
		return pks, p
	}
	for _, c := range []struct {
		name  string
		order ListOrder
		want  []string
	}{
		{"non-unique", ListOrder{Index: "by_group", Exact: true, Key: "b"}, []string{"u5", "u1", "u4"}},
		{"non-unique descending", ListOrder{Index: "by_group", Exact: true, Key: "b", Desc: true}, []string{"u4", "u1", "u5"}},
		{"not the keys it is a prefix of", ListOrder{Index: "by_group", Exact: true, Key: "a"}, []string{"u2"}},
		{"unique", ListOrder{Index: "by_email", Exact: true, Key: "e1"}, []string{"u1"}},
		{"unique, not its extension", ListOrder{Index: "by_email", Exact: true, Key: "e"}, []string{"u2"}},
		{"a key no object has", ListOrder{Index: "by_group", Exact: true, Key: "c"}, nil},
		{"the empty key", ListOrder{Index: "by_group", Exact: true, Key: ""}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, p := list(c.order, "", 100, all)
			if !slices.Equal(got, c.want) || p.More {
				t.Fatalf("listed %q, more %v; want %q", got, p.More, c.want)
			}
			got = nil
			after := ""
			for range 2*len(c.want) + 2 {
				pks, p := list(c.order, after, 1, all)
				got = append(got, pks...)
				if !p.More {
					break
				}
				after = p.Last
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("one at a time: %q, want %q", got, c.want)
			}
		})
	}

	b := ListOrder{Index: "by_group", Exact: true, Key: "b"}
	notU1 := func(r *ObjectRecord) (bool, error) { return r.PK != "u1", nil }
	if got, p := list(b, "", 2, notU1); !slices.Equal(got, []string{"u5"}) || !p.More || p.Last != b.Position(&ObjectRecord{PK: "u1", Indexes: []IndexEntry{g("b")}}) {
		t.Errorf("filtered: %q, more %v, last %q; want u5 up to u1's position, more", got, p.More, p.Last)
	}
	byIndex := ListOrder{Index: "by_group"}
	for _, c := range []struct {
		name  string
		desc  bool
		after string
		want  []string
	}{
		{"after a key before it", false, byIndex.Position(&ObjectRecord{PK: "u0", Indexes: []IndexEntry{g("ab")}}), []string{"u5", "u1", "u4"}},
		{"after a key after it", false, byIndex.Position(&ObjectRecord{PK: "u6", Indexes: []IndexEntry{g("b\x00")}}), nil},
		{"after no entry", false, byIndex.Position(&ObjectRecord{PK: "u3"}), nil},
		{"descending after a key after it", true, byIndex.Position(&ObjectRecord{PK: "u6", Indexes: []IndexEntry{g("b\x00")}}), []string{"u4", "u1", "u5"}},
		{"descending after a key before it", true, byIndex.Position(&ObjectRecord{PK: "u0", Indexes: []IndexEntry{g("ab")}}), nil},
		{"descending after no entry", true, byIndex.Position(&ObjectRecord{PK: "u3"}), []string{"u4", "u1", "u5"}},
	} {
		order := b
		order.Desc = c.desc
		if got, p := list(order, c.after, 10, all); !slices.Equal(got, c.want) || p.More {
			t.Errorf("%s: %q, more %v; want %q", c.name, got, p.More, c.want)
		}
	}
}

func mustGet(t *testing.T, o *objects, pk string) ObjectRecord {
	t.Helper()
	r, ok := o.get("user", pk)
	if !ok {
		t.Fatalf("no user %s", pk)
	}
	return r
}

// TestListObjectsByIndexTakenKey: an object whose unique key a received
// change took (its record still names the entry) is listed once, among
// the objects without an entry, and the taker at the key.
func TestListObjectsByIndexTakenKey(t *testing.T) {
	o := newObjects(t)
	e := IndexEntry{Index: "by_email", Key: "a@x", Unique: true}
	o.put(ObjectWrite{Type: "user", PK: "u1", Version: 1, Value: []byte(`{}`), Indexes: []IndexEntry{e}})
	r := o.put(ObjectWrite{Type: "user", PK: "u2", Version: 1, Value: []byte(`{}`), Indexes: []IndexEntry{e},
		Replica: true, Origin: "dc2", At: 5})
	if r.Status != StatusOK || r.Stale {
		t.Fatalf("received change: %+v", r)
	}
	if !slices.Contains(mustGet(t, o, "u1").Indexes, e) {
		t.Fatal("u1's record no longer names its entry: the test does not test what it says")
	}
	order := ListOrder{Index: "by_email"}
	p, err := o.m.ListObjects("user", order, "", 10, 10, func(*ObjectRecord) (bool, error) { return true, nil })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Objects {
		got = append(got, fmt.Sprintf("%s@%q", r.PK, order.Position(&r)))
	}
	want := []string{`u2@"\x01a@x\x00\x01\x00u2"`, `u1@"\x02u1"`}
	if !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
}

// TestListObjectsByIndexBounds: a page in an index's order ends at its
// scan bound and its byte bounds as one in primary key order does, and
// the objects an entry placed count against them in the phase that
// looks for those without one.
func TestListObjectsByIndexBounds(t *testing.T) {
	o := newObjects(t)
	value := []byte(`"` + strings.Repeat("x", MaxObjectValue-2) + `"`)
	n := MaxListExamined/MaxObjectValue + 2
	for i := range n {
		o.put(ObjectWrite{Type: "blob", PK: fmt.Sprintf("b%02d", i), Version: 1, Value: bytes.Clone(value),
			Indexes: []IndexEntry{{Index: "by_n", Key: fmt.Sprintf("%02d", n-i)}}})
	}
	all := func(*ObjectRecord) (bool, error) { return true, nil }
	wantN := MaxListExamined / MaxObjectValue
	p, err := o.m.ListObjects("blob", ListOrder{Index: "by_n"}, "", MaxListPage, MaxListScan, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Objects) != wantN || !p.More || p.Objects[0].PK != fmt.Sprintf("b%02d", n-1) {
		t.Errorf("the byte bound: %d objects, more %v; want %d from b%02d, more", len(p.Objects), p.More, wantN, n-1)
	}
	// Every object has an entry: the phase after them passes over all.
	for i := range 5 {
		o.put(ObjectWrite{Type: "small", PK: fmt.Sprintf("s%d", i), Version: 1, Value: []byte(`{}`),
			Indexes: []IndexEntry{{Index: "by_n", Key: fmt.Sprint(i)}}})
	}
	last := ListOrder{Index: "by_n"}.Position(&ObjectRecord{PK: "s4", Indexes: []IndexEntry{{Index: "by_n", Key: "4"}}})
	p, err = o.m.ListObjects("small", ListOrder{Index: "by_n"}, last, 3, 3, all)
	if err != nil || len(p.Objects) != 0 || !p.More || p.Last != "\x02s2" {
		t.Errorf("passing over: %+v (last %q), %v", p, p.Last, err)
	}
	p, err = o.m.ListObjects("small", ListOrder{Index: "by_n"}, p.Last, 3, 3, all)
	if err != nil || len(p.Objects) != 0 || p.More || p.Last != "\x02s4" {
		t.Errorf("passing over the rest: %+v (last %q), %v", p, p.Last, err)
	}
}

// TestListObjectsOrderProp: for any objects, entries (unique or not,
// conflicting or not) and deletes, following Last from a listing's first
// page in any order, with any limit, scan and filter, lists every object
// the filter keeps exactly once, in the order of the positions its
// stored entries give; a listing from any object's position starts at
// the next object.
func TestListObjectsOrderProp(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		mw := newMachineWorld(rt)
		defer mw.w.Close()
		m := mw.m
		stored := map[string][]IndexEntry{}
		var index uint64
		pks := []string{"a", "b", "c", "d", "e", "f", "g", "h", "a\x00", "\xff"}
		keys := []string{"k", "k\x00", "l", "m", "\x00"}
		for range rapid.IntRange(0, 30).Draw(rt, "writes") {
			pk := rapid.SampledFrom(pks).Draw(rt, "pk")
			index++
			if rapid.IntRange(0, 5).Draw(rt, "op") == 0 {
				if _, err := m.Apply(index, Command{Client: "c", Seq: index, Op: OpDeleteObject, Object: &ObjectWrite{Type: "t", PK: pk}}); err != nil {
					rt.Fatal(err)
				}
				delete(stored, pk)
				continue
			}
			var es []IndexEntry
			if rapid.Bool().Draw(rt, "indexed") {
				es = append(es, IndexEntry{Index: "ix", Key: rapid.SampledFrom(keys).Draw(rt, "key"), Unique: rapid.Bool().Draw(rt, "unique")})
			}
			if rapid.Bool().Draw(rt, "other") {
				es = append(es, IndexEntry{Index: "other", Key: "o"})
			}
			r, err := m.Apply(index, Command{Client: "c", Seq: index, Op: OpPutObject, Object: &ObjectWrite{Type: "t", PK: pk, Version: 1, Value: []byte(`{}`), Indexes: es}})
			if err != nil {
				rt.Fatal(err)
			}
			if r.Status == StatusOK {
				stored[pk] = es
			}
		}
		order := ListOrder{Index: rapid.SampledFrom([]string{"", "ix"}).Draw(rt, "index"), Desc: rapid.Bool().Draw(rt, "desc")}
		if order.Index != "" && rapid.Bool().Draw(rt, "exact") {
			order.Exact, order.Key = true, rapid.SampledFrom(keys).Draw(rt, "exact key")
		}
		odd := rapid.Bool().Draw(rt, "filter")
		keep := func(r *ObjectRecord) (bool, error) { return !odd || r.Revision%2 == 1, nil }
		// An exact listing holds the objects whose entry has its key.
		exact := func(es []IndexEntry) bool {
			return !order.Exact || slices.ContainsFunc(es, func(e IndexEntry) bool { return e.Index == order.Index && e.Key == order.Key })
		}
		cmp := func(a, b string) int {
			if order.Desc {
				return strings.Compare(b, a)
			}
			return strings.Compare(a, b)
		}
		type placed struct{ pk, pos string }
		var want, every []placed
		for pk, es := range stored { //detlint:unordered sorted below
			rec := ObjectRecord{PK: pk, Indexes: es, Revision: 1}
			every = append(every, placed{pk, order.Position(&rec)})
			if got, _, _ := m.GetObject("t", pk); exact(es) && (!odd || got.Revision%2 == 1) {
				want = append(want, placed{pk, order.Position(&rec)})
			}
		}
		slices.SortFunc(want, func(a, b placed) int { return cmp(a.pos, b.pos) })
		slices.SortFunc(every, func(a, b placed) int { return cmp(a.pos, b.pos) })
		limit := rapid.IntRange(1, 4).Draw(rt, "limit")
		scan := rapid.IntRange(limit, 6).Draw(rt, "scan")
		var got []placed
		after := ""
		for pages := 0; ; pages++ {
			if pages > 2*len(pks)+2 {
				rt.Fatalf("no end after %d pages", pages)
			}
			p, err := m.ListObjects("t", order, after, limit, scan, keep)
			if err != nil {
				rt.Fatal(err)
			}
			for _, r := range p.Objects {
				got = append(got, placed{r.PK, order.Position(&r)})
			}
			if !p.More {
				break
			}
			if p.Last == "" || after != "" && (strings.Compare(p.Last, after) > 0) == order.Desc {
				rt.Fatalf("page after %q ends at %q: no progress", after, p.Last)
			}
			after = p.Last
		}
		if !slices.Equal(got, want) {
			rt.Fatalf("listed %q\nwant %q", got, want)
		}
		// From each object's position, listed or not (of another key in
		// an exact listing): the listed objects after it.
		for _, w := range every {
			p, err := m.ListObjects("t", order, w.pos, len(pks), 3*len(pks), keep)
			if err != nil {
				rt.Fatal(err)
			}
			var rest, after []placed
			for _, r := range p.Objects {
				rest = append(rest, placed{r.PK, order.Position(&r)})
			}
			for _, x := range want {
				if cmp(x.pos, w.pos) > 0 {
					after = append(after, x)
				}
			}
			if !slices.Equal(rest, after) || p.More {
				rt.Fatalf("after %q: %q, more %v; want %q", w.pos, rest, p.More, after)
			}
		}
	})
}

// FuzzListPosition: no position makes CheckPosition panic, and every
// position it accepts in an index's order is the one Position makes of
// what it holds (a position has one spelling).
func FuzzListPosition(f *testing.F) {
	for _, s := range []string{"", "u1", "\x01b\x00\x01\x01u1", "\x01b\x00\x01\x00u5", "\x02u3", "\x03", "\x01\x00\xff\x00\x01\x01x", "\x02"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, after string, byIndex bool) {
		order := ListOrder{Desc: len(after)%2 == 1}
		if byIndex {
			order.Index = "by_group"
		}
		err := order.CheckPosition(after)
		if err == nil && byIndex && after != "" {
			p, perr := order.parsePosition(after)
			if perr != nil {
				t.Fatalf("%q: checked, then %v", after, perr)
			}
			rec := ObjectRecord{PK: p.pk}
			if !p.null {
				rec.Indexes = []IndexEntry{{Index: order.Index, Key: p.key, Unique: p.unique}}
			}
			if again := order.Position(&rec); again != after {
				t.Fatalf("%q reads back as %q", after, again)
			}
		}
	})
}
