package api

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
)

// testType is a type of testdata/model.yaml.
func testType(t testing.TB, name string) *model.Type {
	t.Helper()
	src, err := os.ReadFile("testdata/model.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Parse("model.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	typ, ok := m.Type(name)
	if !ok {
		t.Fatalf("testdata/model.yaml has no type %s", name)
	}
	return typ
}

// item is an Item as a replicaset evaluates it: validated at the latest
// version, stored as canonical JSON and decoded.
func item(t testing.TB, typ *model.Type, js string) model.Object {
	t.Helper()
	obj, err := typ.Validate(typ.Latest(), []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	obj, err = model.Decode(model.Encode(obj))
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

const apple = `{"id":"i1","name":"apple","age":30,"score":1.5,"active":true,"blob":"AQID","at":"2024-01-02T03:04:05Z",` +
	`"price":"12.50","tier":"gold","owner":"o1","pair":{"a":"x","b":2},"note":null,` +
	`"address":{"city":"Delft","zip":null,"geo":{"lat":52.0}},"tags":["a"],"attrs":{"color":"red"},"limit":7}`

// parse parses a raw URL query against typ.
func parse(t tb, typ *model.Type, raw string) (Query, error) {
	t.Helper()
	values, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return ParseQuery(typ, values)
}

// TestMatch evaluates every operator on every kind of field, nested
// fields, map entries and nulls.
func TestMatch(t *testing.T) {
	typ := testType(t, "Item")
	obj := item(t, typ, apple)
	noAddress := item(t, typ, strings.Replace(apple, `{"city":"Delft","zip":null,"geo":{"lat":52.0}}`, "null", 1))
	for _, c := range []struct {
		query string
		want  bool
	}{
		{"", true},
		// string: every operator, ordered byte by byte
		{"name=apple", true}, {"name=pear", false}, {"name[eq]=apple", true},
		{"name[ne]=pear", true}, {"name[ne]=apple", false},
		{"name[gt]=apc", true}, {"name[gt]=apple", false}, {"name[ge]=apple", true},
		{"name[lt]=b", true}, {"name[lt]=apple", false}, {"name[le]=apple", true}, {"name[le]=A", false},
		{"name[in]=pear,apple", true}, {"name[in]=pear,plum", false},
		{"name[prefix]=app", true}, {"name[prefix]=", true}, {"name[prefix]=pp", false},
		// int
		{"age=30", true}, {"age=31", false}, {"age[ne]=30", false}, {"age[gt]=29", true}, {"age[gt]=30", false},
		{"age[ge]=30", true}, {"age[lt]=31", true}, {"age[lt]=30", false}, {"age[le]=29", false},
		{"age[in]=1,30", true}, {"age[in]=1,2", false}, {"age[gt]=-5", true},
		// float
		{"score=1.5", true}, {"score[gt]=1", true}, {"score[lt]=1.5e0", false}, {"score[le]=15e-1", true},
		{"score[in]=1,1.5", true}, {"score[ne]=2", true},
		// bool
		{"active=true", true}, {"active=false", false}, {"active[ne]=false", true}, {"active[in]=false", false},
		{"active[in]=false,true", true},
		// bytes
		{"blob=AQID", true}, {"blob=AQIE", false}, {"blob[ne]=AQID", false}, {"blob[in]=AA%3D%3D,AQID", true},
		// timestamp: by time, whatever the offset
		{"at=2024-01-02T03:04:05Z", true}, {"at=2024-01-02T04:04:05%2B01:00", true},
		{"at[gt]=2024-01-02T04:00:00%2B01:00", true}, {"at[lt]=2024-01-02T03:04:05.000000001Z", true},
		{"at[lt]=2024-01-02T03:04:05Z", false}, {"at[ge]=2024-01-02T03:04:05.0Z", true},
		{"at[in]=2020-01-01T00:00:00Z,2024-01-02T03:04:05Z", true},
		// decimal: by number, not text ("12.5" < "9" as text)
		{"price=12.5", true}, {"price=12.50", true}, {"price=1.25e1", true}, {"price[gt]=9", true},
		{"price[lt]=9", false}, {"price[lt]=100", true}, {"price[gt]=-100", true}, {"price[le]=12.49", false},
		{"price[ge]=12.5000001", false}, {"price[in]=1,12.5", true},
		// enum
		{"tier=gold", true}, {"tier=basic", false}, {"tier[ne]=gold", false}, {"tier[in]=basic,gold", true},
		// ref: the key as text
		{"owner=o1", true}, {"owner=o2", false}, {"owner[ne]=o1", false}, {"owner[in]=o2,o1", true},
		// a ref to a composite key holds a record: no text equals it
		{"pair=x,2", false}, {"pair[ne]=x,2", true},
		// null: only ne
		{"note=x", false}, {"note[ne]=x", true}, {"note[prefix]=", false}, {"note[gt]=", false}, {"note[in]=x,", false},
		// nested records and maps
		{"address.city=Delft", true}, {"address.city[prefix]=Del", true}, {"address.geo.lat[gt]=50", true},
		{"address.geo.lat[gt]=52", false}, {"address.zip=x", false}, {"address.zip[ne]=x", true},
		{"attrs.color=red", true}, {"attrs.color[in]=blue,red", true}, {"attrs.size=L", false}, {"attrs.size[ne]=L", true},
		// a field named like a parameter
		{"limit[eq]=7", true}, {"limit[gt]=6", true}, {"limit[eq]=8", false},
		// every filter must hold
		{"name=apple&age=30&tier=gold", true}, {"name=apple&age=31", false},
		{"age[gt]=1&age[lt]=100", true}, {"age[gt]=1&age[gt]=40", false},
	} {
		q, err := parse(t, typ, c.query)
		if err != nil {
			t.Errorf("%s: %v", c.query, err)
			continue
		}
		if got := q.Match(obj); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.query, got, c.want)
		}
		// Evaluated where the object is, from the encoding.
		fs, err := DecodeFilters(q.Filters.Encode())
		if err != nil {
			t.Errorf("%s: decoding its filters: %v", c.query, err)
		} else if got := fs.Match(obj); got != c.want {
			t.Errorf("%s: the decoded filters match %v, want %v", c.query, got, c.want)
		}
	}
	// Inside a null record everything is null.
	for query, want := range map[string]bool{"address.city=Delft": false, "address.city[ne]=Delft": true, "address.geo.lat[lt]=100": false} {
		q, err := parse(t, typ, query)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Match(noAddress); got != want {
			t.Errorf("%s on a null address: %v, want %v", query, got, want)
		}
	}
	// A float field holding an integer (a JSON number without a point).
	q, _ := parse(t, typ, "score=2")
	if !q.Match(model.Object{"score": int64(2)}) || q.Match(model.Object{"score": "2"}) {
		t.Error("score=2 on an integer 2, or on a string")
	}
}

// TestParseQuery pins what a query parses to: defaults, limits, the
// canonical forms of values, in lists and their escapes.
func TestParseQuery(t *testing.T) {
	typ := testType(t, "Item")
	q, err := parse(t, typ, "")
	if err != nil || !reflect.DeepEqual(q, Query{Type: "Item", Limit: DefaultLimit}) {
		t.Errorf("no parameters: %+v, %v", q, err)
	}
	q, err = parse(t, typ, "limit=1&consistency=stale")
	if err != nil || q.Limit != 1 || !q.Stale {
		t.Errorf("limit=1&consistency=stale: %+v, %v", q, err)
	}
	q, err = parse(t, typ, "limit=1000&consistency=linearizable")
	if err != nil || q.Limit != 1000 || q.Stale {
		t.Errorf("limit=1000&consistency=linearizable: %+v, %v", q, err)
	}
	at := time.Date(2024, 1, 2, 2, 4, 5, 500, time.UTC)
	for _, c := range []struct {
		query string
		want  Filter
	}{
		{"name=x", Filter{Param: "name", Path: []string{"name"}, Op: OpEq, Kind: KindString, Values: []any{"x"}}},
		{"name[in]=a\\,b,c\\\\d,", Filter{Param: "name[in]", Path: []string{"name"}, Op: OpIn, Kind: KindString, Values: []any{"a,b", `c\d`, ""}}},
		{"price[gt]=012.50e0", Filter{Param: "price[gt]", Path: []string{"price"}, Op: OpGt, Kind: KindDecimal, Values: []any{"12.5"}}},
		{"price=-0.0", Filter{Param: "price", Path: []string{"price"}, Op: OpEq, Kind: KindDecimal, Values: []any{"0"}}},
		{"score=-0", Filter{Param: "score", Path: []string{"score"}, Op: OpEq, Kind: KindFloat, Values: []any{0.0}}},
		{"age[le]=-7", Filter{Param: "age[le]", Path: []string{"age"}, Op: OpLe, Kind: KindInt, Values: []any{int64(-7)}}},
		{"active[in]=true,false", Filter{Param: "active[in]", Path: []string{"active"}, Op: OpIn, Kind: KindBool, Values: []any{true, false}}},
		{"at=2024-01-02T03:04:05.0000005%2B01:00", Filter{Param: "at", Path: []string{"at"}, Op: OpEq, Kind: KindTimestamp, Values: []any{at}}},
		{"tier[ne]=basic", Filter{Param: "tier[ne]", Path: []string{"tier"}, Op: OpNe, Kind: KindString, Values: []any{"basic"}}},
		{"owner=o%2C1", Filter{Param: "owner", Path: []string{"owner"}, Op: OpEq, Kind: KindRef, Values: []any{"o,1"}}},
		{"address.geo.lat=1", Filter{Param: "address.geo.lat", Path: []string{"address", "geo", "lat"}, Op: OpEq, Kind: KindFloat, Values: []any{1.0}}},
		{"attrs.a%20b[prefix]=x", Filter{Param: "attrs.a b[prefix]", Path: []string{"attrs", "a b"}, Op: OpPrefix, Kind: KindString, Values: []any{"x"}}},
		{"limit[eq]=3", Filter{Param: "limit[eq]", Path: []string{"limit"}, Op: OpEq, Kind: KindInt, Values: []any{int64(3)}}},
	} {
		q, err := parse(t, typ, c.query)
		if err != nil {
			t.Errorf("%s: %v", c.query, err)
			continue
		}
		if len(q.Filters) != 1 || !reflect.DeepEqual(q.Filters[0], c.want) {
			t.Errorf("%s: %#v, want %#v", c.query, q.Filters, c.want)
		}
		if q.Limit != DefaultLimit || q.After != "" || q.Stale {
			t.Errorf("%s: %+v", c.query, q)
		}
	}
	// The order of the parameters changes neither the filters nor their
	// encoding.
	a, _ := parse(t, typ, "age=1&age=2&name[in]=x,y")
	b, _ := parse(t, typ, "name[in]=x,y&age=2&age=1")
	if !bytes.Equal(a.Filters.Encode(), b.Filters.Encode()) {
		t.Errorf("the order of parameters changed the filters: %v and %v", a.Filters, b.Filters)
	}
}

// TestParseQueryErrors: every error names the parameter and says what is
// wrong with it.
func TestParseQueryErrors(t *testing.T) {
	typ := testType(t, "Item")
	many := make([]string, MaxIn+1)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	long := strings.Repeat("x", 200)
	longIn := strings.TrimSuffix(strings.Repeat(long+",", MaxIn), ",")
	var tooMany []string
	for i := range MaxFilters + 1 {
		tooMany = append(tooMany, fmt.Sprintf("age[ne]=%d", i))
	}
	for _, c := range []struct{ query, want string }{
		{"agee=1", `filter "agee": Item has no field "agee" (did you mean age?)`},
		{"limt=5", `filter "limt": Item has no field "limt" (did you mean limit?)`},
		{"legacy=x", `filter "legacy": Item has no field "legacy"`},
		{"age=x", `filter "age": "x" is not an integer`},
		{"age[gt]=x", `filter "age[gt]": "x" is not an integer`},
		{"age=1.5", `filter "age": "1.5" is not an integer`},
		{"age=", `filter "age": "" is not an integer`},
		{"score[gt]=x", `filter "score[gt]": "x" is not a number`},
		{"score=Inf", `filter "score": "Inf" is not a number`},
		{"score=1e999", `filter "score": "1e999" is out of the float range`},
		{"price=abc", `filter "price": "abc" is not a decimal`},
		{"price=1e99999", `filter "price": "1e99999" is out of the decimal range`},
		{"active=yes", `filter "active": "yes" is not true or false`},
		{"blob=!!", `filter "blob": "!!" is not standard base64`},
		{"blob=a+b=", `filter "blob": "a b=" is not standard base64 (a "+" in a URL query is a space: send it as %2B)`},
		{"at=2024-01-02T03:04:05+01:00", `filter "at": "2024-01-02T03:04:05 01:00" is not an RFC 3339 timestamp (a "+" in a URL query is a space: send it as %2B)`},
		{"at=yesterday", `filter "at": "yesterday" is not an RFC 3339 timestamp`},
		{"tier=silver", `filter "tier": "silver" is not one of basic, gold`},
		{"tier[in]=gold,silver", `filter "tier[in]": "silver" is not one of basic, gold`},
		{"name=%FF", `filter "name": "\xff" is not valid UTF-8`},
		{"age[gtt]=1", `filter "age[gtt]": unknown operator "gtt" (did you mean gt?)`},
		{"age[contains]=1", `filter "age[contains]": unknown operator "contains" (one of eq, ne, gt, ge, lt, le, in, prefix)`},
		{"age[gt=1", `filter "age[gt": want FIELD=VALUE or FIELD[OP]=VALUE`},
		{"age[]=1", `filter "age[]": want FIELD=VALUE or FIELD[OP]=VALUE`},
		{"[gt]=1", `filter "[gt]": want FIELD=VALUE or FIELD[OP]=VALUE`},
		{"=1", `filter "": want FIELD=VALUE or FIELD[OP]=VALUE`},
		{"age.=1", `filter "age.": an empty field name in "age."`},
		{"active[gt]=true", `filter "active[gt]": active is a bool: it takes eq, ne, in`},
		{"blob[prefix]=A", `filter "blob[prefix]": blob is bytes: it takes eq, ne, in`},
		{"tier[prefix]=g", `filter "tier[prefix]": tier is an enum: it takes eq, ne, in`},
		{"age[prefix]=1", `filter "age[prefix]": age is an int: it takes eq, ne, gt, ge, lt, le, in`},
		{"owner[gt]=o", `filter "owner[gt]": owner is a ref to Owner: it takes eq, ne, in`},
		{"tags=a", `filter "tags": tags is an array: a filter compares one value`},
		{"address=x", `filter "address": address is a record: filter one of its fields (address.FIELD)`},
		{"attrs=x", `filter "attrs": attrs is a map: filter one of its fields (attrs.FIELD)`},
		{"address.cty=x", `filter "address.cty": address has no field "cty" (did you mean city?)`},
		{"name.x=1", `filter "name.x": name is a string: it has no field "x"`},
		{"attrs.color.x=1", `filter "attrs.color.x": attrs.color is a string: it has no field "x"`},
		{strings.Repeat("a.", MaxPath) + "a=1", `filter "` + strings.Repeat("a.", MaxPath) + `a": a path of 17 fields, at most 16`},
		{`name[in]=a\x`, `filter "name[in]": in list "a\\x": "\" escapes only "," and "\" (write "\\" for a backslash)`},
		{`name[in]=a\`, `filter "name[in]": in list "a\\": "\" escapes only "," and "\" (write "\\" for a backslash)`},
		{"age[in]=" + strings.Join(many, ","), `filter "age[in]": 101 values, at most 100`},
		{strings.Join(tooMany, "&"), `filter "age[ne]": more than 32 filters`},
		{"name[in]=" + longIn + "&note[in]=" + longIn, "filters: 40"},
		{"limit=0", `limit "0": want a number from 1 to 1000`},
		{"limit=1001", `limit "1001": want a number from 1 to 1000`},
		{"limit=x", `limit "x": want a number from 1 to 1000`},
		{"limit=", `limit "": want a number from 1 to 1000`},
		{"limit=1&limit=2", `limit: given 2 times, want once`},
		{"consistency=linear", `consistency "linear": want linearizable or stale`},
		{"consistency=stale&consistency=stale", `consistency: given 2 times, want once`},
		{"after=abc", `after "abc": not a cursor (a cursor is the "next" of a listing's answer)`},
		{"after=", `after "": not a cursor (a cursor is the "next" of a listing's answer)`},
		{"after=a&after=b", `after: given 2 times, want once`},
	} {
		_, err := parse(t, typ, c.query)
		switch {
		case err == nil:
			t.Errorf("%s: no error, want %s", c.query, c.want)
		case c.want == "filters: 40":
			if !strings.HasPrefix(err.Error(), c.want) || !strings.HasSuffix(err.Error(), " bytes encoded, over 16384: filter on fewer or shorter values") {
				t.Errorf("%s:\n got %s\nwant %s… bytes encoded, over 16384…", c.query, err, c.want)
			}
		case err.Error() != c.want:
			t.Errorf("%s:\n got %s\nwant %s", c.query, err, c.want)
		}
	}
}

// TestCursor: a cursor gives its key back to a query of the same type and
// filters, whatever its limit, and is refused by any other.
func TestCursor(t *testing.T) {
	typ := testType(t, "Item")
	q, err := parse(t, typ, "age[gt]=3&name[prefix]=a")
	if err != nil {
		t.Fatal(err)
	}
	pk := model.EncodeKey("i\x00/7")
	c := q.Cursor(pk)
	if strings.ContainsAny(c, "+/=") {
		t.Errorf("cursor %q is not base64url without padding", c)
	}
	again, err := parse(t, typ, "name[prefix]=a&age[gt]=3&limit=7&consistency=stale&after="+c)
	if err != nil || again.After != pk || again.Limit != 7 {
		t.Fatalf("the cursor read back: %+v, %v", again, err)
	}
	refused := `after: the cursor belongs to a listing of another type or with other filters or order, or one the model has changed under (an index added or changed): repeat that listing's filters and order, or start again without after`
	for _, other := range []string{"age[gt]=3", "age[gt]=4&name[prefix]=a", "age[ge]=3&name[prefix]=a", "age[gt]=3&name[prefix]=a&note=x", "", "age[gt]=3&name[prefix]=a&order=by_age", "age[gt]=3&name[prefix]=a&order=-_key"} {
		if _, err := parse(t, typ, other+"&after="+c); err == nil || err.Error() != refused {
			t.Errorf("the cursor with %q: %v, want %s", other, err, refused)
		}
	}
	owner := testType(t, "Owner")
	empty := Query{Type: "Item"}
	if _, err := ParseQuery(owner, url.Values{"after": {empty.Cursor(pk)}}); err == nil || err.Error() != refused {
		t.Errorf("an Item cursor for Owner: %v", err)
	}
	for _, bad := range []string{c + "=", c[:len(c)-1] + "!", "AQ", base64URL(append([]byte{2}, make([]byte, 9)...)), base64URL(make([]byte, 9))} {
		if _, err := parse(t, typ, "after="+url.QueryEscape(bad)); err == nil || !strings.Contains(err.Error(), "not a cursor") {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
	huge := empty.Cursor(strings.Repeat("k", MaxCursorKey+1))
	if _, err := ParseQuery(typ, url.Values{"after": {huge}}); err == nil || err.Error() != fmt.Sprintf("after: a cursor of a position of %d bytes, over %d", MaxCursorKey+1, MaxCursorKey) {
		t.Errorf("a cursor of a huge key: %v", err)
	}
}

// TestLimitsMatchKV: the query's bounds are the store's.
func TestLimitsMatchKV(t *testing.T) {
	if MaxLimit != kv.MaxListPage || MaxScan != kv.MaxListScan || MaxFilterBytes != kv.MaxListFilter || MaxCursorKey != kv.MaxListPosition {
		t.Errorf("limit %d, scan %d, filters %d, position %d; kv's %d, %d, %d, %d", MaxLimit, MaxScan, MaxFilterBytes, MaxCursorKey,
			kv.MaxListPage, kv.MaxListScan, kv.MaxListFilter, kv.MaxListPosition)
	}
	for limit, want := range map[int]int{1: 1000, 100: 1000, 101: 1010, 999: 9990, 1000: 10000} {
		if got := ScanBound(limit); got != want || got < limit {
			t.Errorf("ScanBound(%d) = %d, want %d", limit, got, want)
		}
	}
}

// TestDecodeFilters: the decoder takes exactly what Encode writes.
func TestDecodeFilters(t *testing.T) {
	typ := testType(t, "Item")
	q, err := parse(t, typ, "age[in]=1,-2&score[gt]=1.5&active=true&at[lt]=2024-01-01T00:00:00.5Z&price=1.5&blob=AQID&owner=o&name[prefix]=x")
	if err != nil {
		t.Fatal(err)
	}
	b := q.Filters.Encode()
	fs, err := DecodeFilters(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fs.Encode(), b) {
		t.Errorf("re-encoded %x, want %x", fs.Encode(), b)
	}
	if fs, err := DecodeFilters(nil); err != nil || fs != nil {
		t.Errorf("no filters: %v, %v", fs, err)
	}
	one := Filters{{Path: []string{"name"}, Op: OpEq, Kind: KindString, Values: []any{"x"}}}.Encode()
	with := func(i int, c byte) []byte { b := bytes.Clone(one); b[i] = c; return b }
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"version 2", with(0, 2), "api: decoding filters: version 2, this build reads 1"},
		{"no filters", []byte{1, 0}, "no filters: they encode as nothing"},
		{"trailing", append(bytes.Clone(one), 0), "1 stray bytes"},
		{"truncated", one[:len(one)-1], "runs past the end"},
		{"unknown op", with(2, 9), "unknown operator 9"},
		{"op 0", with(2, 0), "unknown operator 0"},
		{"unknown kind", with(3, 9), "unknown kind 9"},
		{"prefix of an int", Filters{{Path: []string{"age"}, Op: OpPrefix, Kind: KindInt, Values: []any{int64(1)}}}.Encode(), "kind 2 does not take prefix"},
		{"no path", Filters{{Op: OpEq, Kind: KindString, Values: []any{"x"}}}.Encode(), "a filter without its field"},
		{"empty segment", Filters{{Path: []string{""}, Op: OpEq, Kind: KindString, Values: []any{"x"}}}.Encode(), "an empty path segment"},
		{"two values for eq", Filters{{Path: []string{"a"}, Op: OpEq, Kind: KindString, Values: []any{"x", "y"}}}.Encode(), "eq with 2 values, want 1"},
		{"an empty in", Filters{{Path: []string{"a"}, Op: OpIn, Kind: KindString}}.Encode(), "an empty in list"},
		{"a decimal not canonical", Filters{{Path: []string{"a"}, Op: OpEq, Kind: KindDecimal, Values: []any{"1.50"}}}.Encode(), `"1.50" is not in its canonical form`},
		{"bytes not canonical", Filters{{Path: []string{"a"}, Op: OpEq, Kind: KindBytes, Values: []any{"AQI"}}}.Encode(), `"AQI" is not in its canonical form`},
		{"a bool byte 2", append(Filters{{Path: []string{"a"}, Op: OpEq, Kind: KindBool, Values: []any{true}}}.Encode()[:8], 2), "bool byte 2"},
		{"a padded number", []byte{1, 0x81, 0}, "a number is not minimally encoded"},
		{"too many filters", []byte{1, MaxFilters + 1}, "33 filters, over 32"},
		{"too big", make([]byte, MaxFilterBytes+1), "16385 bytes, over 16384"},
	} {
		if _, err := DecodeFilters(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestParseOrder: order= takes an index of the type or _key, either
// ascending or, after "-", descending; anything else is refused with an
// error that names the parameter and the choices.
func TestParseOrder(t *testing.T) {
	typ := testType(t, "Item")
	for _, c := range []struct {
		raw  string
		want Order
		err  string
	}{
		{"", Order{}, ""},
		{"order=_key", Order{}, ""},
		{"order=-_key", Order{Desc: true}, ""},
		{"order=by_age", Order{Index: "by_age"}, ""},
		{"order=-by_note", Order{Index: "by_note", Desc: true}, ""},
		{"order[eq]=x", Order{}, `filter "order[eq]": Item has no field "order"`},
		{"order=by_agee", Order{}, `order "by_agee": Item has no index "by_agee" (did you mean by_age?): want INDEX, or -INDEX for the reverse order`},
		{"order=", Order{}, `order "": Item has no index "" (one of _key, by_age, by_note): want INDEX, or -INDEX for the reverse order`},
		{"order=--by_age", Order{}, `order "--by_age": Item has no index "-by_age"`},
		{"order=age", Order{}, `order "age": Item has no index "age"`},
		{"order=by_age&order=by_note", Order{}, "order: given 2 times, want once"},
	} {
		q, err := parse(t, typ, c.raw)
		switch {
		case c.err == "" && (err != nil || q.Order != c.want):
			t.Errorf("%q: %+v, %v; want %+v", c.raw, q.Order, err, c.want)
		case c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)):
			t.Errorf("%q: %v, want %s", c.raw, err, c.err)
		}
		if err == nil && q.Order.String() != map[bool]string{true: strings.TrimPrefix(c.raw, "order="), false: "_key"}[strings.HasPrefix(c.raw, "order=")] {
			t.Errorf("%q: written back as %q", c.raw, q.Order.String())
		}
	}
}
