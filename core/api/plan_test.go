package api

import (
	"testing"
)

// TestPlan: a listing in primary key order whose filters hold an eq on
// every field of a non-unique index reads that index's entries of the key an
// object holding those values has, whatever the kind of the fields; the
// index with the most fields wins; other operators, a part of an index,
// a value no field holds, a composite ref and an index order asked for
// leave the order as it is.
func TestPlan(t *testing.T) {
	typ := testType(t, "Indexed")
	obj := item(t, typ, `{"id":"x1","owner":"o1","tier":"gold","age":3,"code":"c1","at":"2024-01-02T03:04:05Z","price":"12.50",`+
		`"score":1.5,"blob":"AQID","active":true,"counter":42,"pair":{"a":"p","b":2}}`)
	entries, err := typ.IndexEntries(obj)
	if err != nil {
		t.Fatal(err)
	}
	keyOf := map[string]string{}
	for _, e := range entries {
		keyOf[e.Index] = e.Key
	}
	for _, c := range []struct {
		query string
		index string // "": the order asked
		desc  bool
	}{
		{"owner=o1", "by_owner", false},
		{"tier=gold", "by_tier", false},
		{"tier=gold&age=3", "by_tier_age", false},
		{"age=3&tier[eq]=gold&code[prefix]=c", "by_tier_age", false},
		{"tier=gold&age[ge]=3", "by_tier", false},
		{"code=c1", "", false}, // unique: a replicated change may take an entry from the object that holds the value
		{"at=2024-01-02T04:04:05%2B01:00", "by_at", false},
		{"price=12.5", "by_price", false},
		{"score=1.5", "by_score", false},
		{"blob=AQID", "by_blob", false},
		{"active=true", "by_active", false},
		{"counter=42", "by_counter", false},
		{"owner=o1&order=-_key", "by_owner", true},
		{"owner=o1&owner=o2", "by_owner", false},
		{"age=3", "", false},
		{"owner[ne]=o1", "", false},
		{"owner[in]=o1", "", false},
		{"code[prefix]=c1", "", false},
		{"counter=x", "", false},
		{"pair=p,2", "", false},
		{"owner=o1&order=by_tier", "", false},
		{"", "", false},
	} {
		q, err := parse(t, typ, c.query)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if c.index == "" {
			if q.Plan != q.Order {
				t.Errorf("%s: plan %+v, want the order %+v", c.query, q.Plan, q.Order)
			}
			continue
		}
		want := Order{Index: c.index, Desc: c.desc, Exact: true, Key: keyOf[c.index]}
		if q.Plan != want || want.Key == "" {
			t.Errorf("%s: plan %+v, want %+v", c.query, q.Plan, want)
		}
		if !q.Match(obj) && c.query != "owner=o1&owner=o2" {
			t.Errorf("%s: the filters do not match the object whose entry the plan reads", c.query)
		}
	}
	// The plan is bound into the cursor: a cursor of a listing that read
	// by key is not one of a listing that reads an index.
	q, _ := parse(t, typ, "owner=o1")
	byKey := q
	byKey.Plan = byKey.Order
	if q.Cursor("p") == byKey.Cursor("p") {
		t.Error("the cursors of two plans are the same")
	}
}
