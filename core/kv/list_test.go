package kv

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestListObjects pins a list-objects page: primary key order after the
// request's key, the objects keep accepts, and where the page stops (its
// limit, its scan bound, its byte bound, the end) with More and Last.
func TestListObjects(t *testing.T) {
	o := newObjects(t)
	for _, pk := range []string{"u3", "u2", "u\x00", "u", "v", "u1"} {
		o.put(user(pk, "", ""))
	}
	o.put(ObjectWrite{Type: "us", PK: "x"})
	o.put(ObjectWrite{Type: "user\x01", PK: "\xff"})
	o.del(ObjectWrite{Type: "user", PK: "u2"})

	all := func(*ObjectRecord) (bool, error) { return true, nil }
	// odd keeps u1 and u3.
	odd := func(r *ObjectRecord) (bool, error) { return r.PK == "u1" || r.PK == "u3", nil }
	type page struct {
		PKs  []string
		More bool
		Last string
	}
	list := func(after string, limit, scan int, keep func(*ObjectRecord) (bool, error)) page {
		t.Helper()
		p, err := o.m.ListObjects("user", ListOrder{}, after, limit, scan, keep)
		if err != nil {
			t.Fatal(err)
		}
		if p.Replicaset != "" {
			t.Errorf("the machine named the replicaset %q", p.Replicaset)
		}
		var pks []string
		for _, r := range p.Objects {
			if r.Type != "user" || r.Revision == 0 {
				t.Errorf("a listed record %+v", r)
			}
			pks = append(pks, r.PK)
		}
		return page{pks, p.More, p.Last}
	}
	for _, c := range []struct {
		name        string
		after       string
		limit, scan int
		keep        func(*ObjectRecord) (bool, error)
		want        page
	}{
		{"all", "", 10, 100, all, page{[]string{"u", "u\x00", "u1", "u3", "v"}, false, "v"}},
		{"up to the limit", "", 2, 100, all, page{[]string{"u", "u\x00"}, true, "u\x00"}},
		{"the limit at the last object", "u1", 2, 100, all, page{[]string{"u3", "v"}, false, "v"}},
		{"after a key", "u", 2, 100, all, page{[]string{"u\x00", "u1"}, true, "u1"}},
		{"after a deleted key", "u2", 10, 100, all, page{[]string{"u3", "v"}, false, "v"}},
		{"after the last", "v", 10, 100, all, page{nil, false, ""}},
		{"a filter", "", 10, 100, odd, page{[]string{"u1", "u3"}, false, "v"}},
		{"a filter up to its limit", "", 1, 100, odd, page{[]string{"u1"}, true, "u1"}},
		{"the scan bound", "", 2, 3, odd, page{[]string{"u1"}, true, "u1"}},
		{"the scan bound before any match", "", 2, 2, odd, page{nil, true, "u\x00"}},
		{"nothing kept", "", 10, 100, func(*ObjectRecord) (bool, error) { return false, nil }, page{nil, false, "v"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want(t, c.name, list(c.after, c.limit, c.scan, c.keep), c.want)
		})
	}

	// keep may change what it keeps (the node upgrades records).
	p, err := o.m.ListObjects("user", ListOrder{}, "u3", 1, 1, func(r *ObjectRecord) (bool, error) {
		r.Version, r.Value = 2, []byte(`{"upgraded":true}`)
		return true, nil
	})
	if err != nil || len(p.Objects) != 1 || p.Objects[0].Version != 2 || string(p.Objects[0].Value) != `{"upgraded":true}` {
		t.Errorf("a changed record: %+v, %v", p, err)
	}
	boom := errors.New("boom")
	if _, err := o.m.ListObjects("user", ListOrder{}, "", 10, 10, func(*ObjectRecord) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("keep's error: %v", err)
	}
	for _, c := range [][2]int{{0, 10}, {-1, 10}, {10, 9}} {
		if _, err := o.m.ListObjects("user", ListOrder{}, "", c[0], c[1], all); err == nil {
			t.Errorf("limit %d, scan %d: no error", c[0], c[1])
		}
	}
	if p, err := o.m.ListObjects("user\x00", ListOrder{}, "", 10, 10, all); err != nil || len(p.Objects) != 0 || p.More {
		t.Errorf("a type with a zero byte: %+v, %v", p, err)
	}
}

// TestListObjectsByteBound: a page ends after the object whose value
// reaches MaxListBytes, or whose stored record makes the bytes examined
// reach MaxListExamined, kept or not: a filter that keeps nothing of
// large objects must not examine them all.
func TestListObjectsByteBound(t *testing.T) {
	o := newObjects(t)
	value := []byte(`"` + strings.Repeat("x", MaxObjectValue-2) + `"`)
	n := MaxListBytes/MaxObjectValue + 2
	for i := range n {
		o.put(ObjectWrite{Type: "blob", PK: fmt.Sprintf("b%02d", i), Version: 1, Value: bytes.Clone(value)})
	}
	// Each record holds a little more than its value.
	wantN := MaxListExamined / MaxObjectValue
	for _, c := range []struct {
		name string
		keep func(*ObjectRecord) (bool, error)
		kept int
	}{
		{"every object kept", func(*ObjectRecord) (bool, error) { return true, nil }, wantN},
		{"none kept", func(*ObjectRecord) (bool, error) { return false, nil }, 0},
	} {
		p, err := o.m.ListObjects("blob", ListOrder{}, "", MaxListPage, MaxListScan, c.keep)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Objects) != c.kept || !p.More || p.Last != fmt.Sprintf("b%02d", wantN-1) {
			t.Errorf("%s: %d objects, more %v, last %q; want %d, more, b%02d", c.name, len(p.Objects), p.More, p.Last, c.kept, wantN-1)
		}
	}
	// keep may grow what it keeps (an upgrade): MaxListBytes ends the
	// page before MaxListExamined does.
	for i := range 20 {
		o.put(ObjectWrite{Type: "small", PK: fmt.Sprintf("s%02d", i), Version: 1, Value: []byte(`"x"`)})
	}
	grown := []byte(`"` + strings.Repeat("y", MaxObjectValue-2) + `"`)
	p, err := o.m.ListObjects("small", ListOrder{}, "", MaxListPage, MaxListScan, func(r *ObjectRecord) (bool, error) {
		r.Value = grown
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := MaxListBytes / MaxObjectValue; len(p.Objects) != want || !p.More {
		t.Errorf("grown values: %d objects, more %v; want %d, more", len(p.Objects), p.More, want)
	}
}
