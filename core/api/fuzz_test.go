package api

import (
	"bytes"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzParseQuery: no query makes ParseQuery panic; every error names a
// parameter of the query; what parses encodes, decodes and re-encodes to
// the same bytes, and its cursors come back.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "name=apple", "age[gt]=3&age[lt]=9", "name[in]=a\\,b,c", "address.geo.lat[ge]=1.5", "attrs.color=red",
		"at[lt]=2024-01-02T03:04:05%2B01:00", "price[gt]=1e3", "blob=AQID", "tier[in]=basic,gold", "owner=o1",
		"limit=10&consistency=stale", "after=AQAAAAAAAAAAaw", "limit[eq]=1", "note[ne]=x&active=true",
		"agee=1", "age[gtt]=1", "tags=a", "=", "&&", "a[b]c=1", "x.y.z[prefix]=",
		"order=by_age", "order=-by_note&age[gt]=1", "order=-_key", "order=_key", "order=", "order=-", "order=by_agee", "order=--by_age",
		"order=by_age&order=by_note", "order[eq]=1",
	} {
		f.Add(s)
	}
	typ := testType(f, "Item")
	f.Fuzz(func(t *testing.T, raw string) {
		values, _ := url.ParseQuery(raw)
		q, err := ParseQuery(typ, values)
		if err != nil {
			msg := err.Error()
			named := false
			for k := range values {
				if strings.HasPrefix(msg, "filter "+quote(k)+":") || strings.HasPrefix(msg, k+" ") || strings.HasPrefix(msg, k+":") {
					named = true
				}
			}
			if !named && !strings.HasPrefix(msg, "filters: ") {
				t.Fatalf("%q: the error names no parameter of the query (%q): %s", raw, slices.Sorted(maps.Keys(values)), msg)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxLimit || len(q.Filters) > MaxFilters {
			t.Fatalf("%q: %+v", raw, q)
		}
		b := q.Filters.Encode()
		fs, err := DecodeFilters(b)
		if err != nil {
			t.Fatalf("%q: the filters do not decode: %v", raw, err)
		}
		if !bytes.Equal(fs.Encode(), b) {
			t.Fatalf("%q: re-encoded to %x, want %x", raw, fs.Encode(), b)
		}
		// The order as order= writes it, and a cursor bound to it, come back.
		back, err := ParseQuery(typ, url.Values{"after": {q.Cursor("k" + raw)}, "order": {q.Order.String()}})
		if len(q.Filters) == 0 && (err != nil || back.After != "k"+raw || back.Order != q.Order) && len(raw) < MaxCursorKey {
			t.Fatalf("%q: a cursor did not come back: %+v, %v", raw, back, err)
		}
	})
}

// FuzzDecodeFilters: no input makes DecodeFilters panic, and what it
// takes is canonical: it encodes back to the same bytes.
func FuzzDecodeFilters(f *testing.F) {
	typ := testType(f, "Item")
	for _, s := range []string{"name=a", "age[in]=1,2&score[gt]=1.5", "at[lt]=2024-01-01T00:00:00Z&price=1.5&blob=AQID&active=false"} {
		q, err := parse(f, typ, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(q.Filters.Encode())
	}
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := DecodeFilters(b)
		if err != nil {
			return
		}
		if !bytes.Equal(fs.Encode(), b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", b, fs, fs.Encode())
		}
		fs.Match(map[string]any{"name": "a", "age": int64(1), "score": 1.5, "at": "2024-01-01T00:00:00Z", "price": "1.5"})
	})
}
