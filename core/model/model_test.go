package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func exampleFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "scenarios", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func exampleModel(t testing.TB) *Model {
	t.Helper()
	m, err := Parse("model.yaml", exampleFile(t, "model.yaml"))
	if err != nil {
		t.Fatalf("Parse(model.yaml): %v", err)
	}
	return m
}

func mustType(t testing.TB, m *Model, name string) *Type {
	t.Helper()
	ty, ok := m.Type(name)
	if !ok {
		t.Fatalf("no type %s", name)
	}
	return ty
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func init() {
	RegisterMigration("test_upper_name", func(o Object) (Object, error) {
		o["name"] = strings.ToUpper(fmt.Sprint(o["name"]))
		return o, nil
	})
	RegisterMigration("test_bad_output", func(o Object) (Object, error) {
		o["count"] = "many"
		return o, nil
	})
}

func TestExamplesParse(t *testing.T) {
	m := exampleModel(t)
	next, err := Parse("model-next.yaml", exampleFile(t, "model-next.yaml"))
	if err != nil {
		t.Fatalf("Parse(model-next.yaml): %v", err)
	}
	if err := m.CheckSuccessor(next); err != nil {
		t.Fatalf("CheckSuccessor: %v", err)
	}
	if err := next.CheckSuccessor(m); err == nil {
		t.Fatal("the older model is accepted as the successor of the newer")
	} else {
		golden(t, "successor.golden", err.Error()+"\n")
	}
	if got := m.Digest(); len(got) != 16 || got == next.Digest() {
		t.Fatalf("digests %s and %s", got, next.Digest())
	}
	// The same model laid out differently has the same digest.
	again, err := Parse("other.yaml", append([]byte("# a comment\n\n"), exampleFile(t, "model.yaml")...))
	if err != nil || again.Digest() != m.Digest() {
		t.Fatalf("digest of the same model differs: %v", err)
	}
	if !bytes.Equal(m.Source(), exampleFile(t, "model.yaml")) {
		t.Fatal("Source is not the parsed file")
	}
	var names []string
	for _, ty := range m.Types {
		names = append(names, ty.Name)
	}
	if got := strings.Join(names, ","); got != "Customer,Order,Product,Shipment" {
		t.Fatalf("types %s", got)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "model.json", string(b)+"\n")
}

// TestExampleCoversEveryFieldType keeps the example model honest: its
// fields use every kind, nullable included.
func TestExampleCoversEveryFieldType(t *testing.T) {
	seen := map[string]bool{}
	var walk func(ft *FieldType)
	walk = func(ft *FieldType) {
		seen[string(ft.Kind)] = true
		if ft.Nullable {
			seen["nullable"] = true
		}
		if ft.Elem != nil {
			walk(ft.Elem)
		}
		for _, f := range ft.Fields {
			walk(f.Type)
		}
	}
	for _, ty := range exampleModel(t).Types {
		for _, v := range ty.Versions {
			walk(v.record)
		}
	}
	for _, k := range append(scalarKinds, "enum", "array", "record", "map", "ref", "nullable") {
		if !seen[k] {
			t.Errorf("the example model has no %s field", k)
		}
	}
}

// invalidModels are models Parse must reject; testdata/invalid-models.golden
// holds the exact messages.
var invalidModels = []struct{ name, file string }{
	{"invalid yaml", "types: [\n"},
	{"empty file", ""},
	{"no types", "types: {}\n"},
	{"second document", "types:\n  A: {key: [id], versions: [{version: 1, fields: {id: string}}]}\n---\nx: 1\n"},
	{"alias", "types:\n  A: &a {key: [id], versions: [{version: 1, fields: {id: string}}]}\n  B: *a\n"},
	{"misspelt keys", `types:
  Customer:
    key: [id]
    indxes: []
    versions:
      - version: 1
        feilds: {id: string}
`},
	{"duplicate keys", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields:
          id: string
          id: int
`},
	{"bad type name", "types:\n  customer: {key: [id], versions: [{version: 1, fields: {id: string}}]}\n"},
	{"unknown field type", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields:
          id: strng
          b: B
          c: {array: flot}
`},
	{"unknown ref", `types:
  Customer: {key: [id], versions: [{version: 1, fields: {id: string}}]}
  Order:
    key: [id]
    versions:
      - version: 1
        fields:
          id: string
          customer: {ref: Custmer}
`},
	{"enums", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields:
          id: string
          a: {enum: []}
          b: {enum: [x, y, x]}
`},
	{"bad defaults", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields:
          id: string
          n: {type: int, default: many}
          t: {type: timestamp, default: "yesterday"}
          e: {enum: [a, b], default: c}
          r: {record: {x: int}, default: {x: "1"}}
`},
	{"bad keys", `types:
  A:
    key: [idd, email, tags]
    versions:
      - version: 1
        fields:
          id: string
          email: string?
          tags: {array: string}
`},
	{"key changed type", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields: {id: string}
      - version: 2
        migrate:
          - convert: {field: id, to: int, default: 0}
        fields: {id: int}
`},
	{"key renamed and affinity dropped", `types:
  A:
    key: [id]
    affinity: owner
    versions:
      - version: 1
        fields: {id: string, owner: string}
      - version: 2
        migrate:
          - rename: {from: id, to: ident}
          - drop: owner
        fields: {ident: string}
`},
	{"version numbers", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields: {id: string}
      - version: 3
        migrate: [{add: {field: x, type: int, default: 0}}]
        fields: {id: string, x: int}
`},
	{"migrations missing and misplaced", `types:
  A:
    key: [id]
    versions:
      - version: 1
        migrate: [{drop: x}]
        fields: {id: string}
      - version: 2
        fields: {id: string}
`},
	{"migration gives the wrong type", `types:
  Customer:
    key: [id]
    versions:
      - version: 1
        fields: {id: string, name: string}
      - version: 2
        migrate:
          - add: {field: tier, type: string, default: basic}
        fields:
          id: string
          name: string
          tier: {enum: [basic, gold]}
`},
	{"migration misses and adds fields", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields: {id: string, name: string, age: int}
      - version: 2
        migrate:
          - split: {field: name, into: [first, last], separator: " "}
        fields: {id: string, first: string, surname: string, age: "int?"}
`},
	{"step on a missing field", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields: {id: string, name: string, address: {record: {zip: string}}}
      - version: 2
        migrate:
          - rename: {from: nmae, to: title}
          - drop: address.zpi
        fields: {id: string, title: string, address: {record: {zip: string}}}
`},
	{"partial convert without default", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields: {id: string, qty: string, blob: bytes}
      - version: 2
        migrate:
          - convert: {field: qty, to: int}
          - convert: {field: blob, to: int}
        fields: {id: string, qty: int, blob: int}
`},
	{"unregistered func", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields: {id: string}
      - version: 2
        migrate: [{func: test_uper_name}]
        fields: {id: string}
`},
	{"bad indexes", `types:
  A:
    key: [id]
    indexes:
      - {name: by_email, fields: [emial]}
      - {name: by_email, fields: []}
      - {name: by_tags, fields: [tags]}
    versions:
      - version: 1
        fields: {id: string, email: "string?", tags: {array: string}}
`},
	{"bad relations", `types:
  Customer:
    key: [id]
    relations:
      - {name: orders, kind: one-to-lots, type: Order, fields: {id: customer_id}}
      - {name: orders2, kind: one-to-many, type: Ordr, fields: {id: customer_id}}
      - {name: orders3, kind: one-to-many, type: Order, fields: {idd: customer}}
      - {name: orders4, kind: one-to-many, type: Order, fields: {id: number}}
    versions:
      - version: 1
        fields: {id: string}
  Order:
    key: [id]
    versions:
      - version: 1
        fields: {id: string, customer_id: {ref: Customer}, number: int}
`},
	{"history out of range", `types:
  A:
    key: [id]
    history: 1001
    versions: [{version: 1, fields: {id: string}}]
  B:
    key: [id]
    history: -1
    versions: [{version: 1, fields: {id: string}}]
`},
	{"key cycle", `types:
  A:
    key: [b]
    versions: [{version: 1, fields: {b: {ref: B}}}]
  B:
    key: [a]
    versions: [{version: 1, fields: {a: {ref: A}}}]
`},
	{"two kinds in one type", `types:
  A:
    key: [id]
    versions: [{version: 1, fields: {id: string, x: {enum: [a], array: string}, y: {nullable: true}}}]
`},
	{"unknown step", `types:
  A:
    key: [id]
    versions:
      - version: 1
        fields: {id: string}
      - version: 2
        migrate: [{renam: {from: a, to: b}}, {add: {field: x, type: int}}]
        fields: {id: string, x: int}
`},
	{"too deep", "types:\n  A:\n    key: [id]\n    versions: [{version: 1, fields: {id: string, x: " + strings.Repeat("{array: ", 17) + "int" + strings.Repeat("}", 17) + "}}]\n"},
}

func TestParseInvalid(t *testing.T) {
	if len(invalidModels) < 20 {
		t.Fatalf("only %d invalid models", len(invalidModels))
	}
	var out strings.Builder
	for _, tc := range invalidModels {
		m, err := Parse("m.yaml", []byte(tc.file))
		if err == nil {
			t.Errorf("%s: Parse accepted it", tc.name)
			continue
		}
		if m != nil {
			t.Errorf("%s: Parse returned a model with its error", tc.name)
		}
		var list ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: error %T is no ErrorList", tc.name, err)
		}
		fmt.Fprintf(&out, "== %s\n%s\n", tc.name, err)
	}
	golden(t, "invalid-models.golden", out.String())
}

func TestParseLimits(t *testing.T) {
	big := make([]byte, maxFileSize+1)
	if _, err := Parse("big.yaml", big); err == nil || !strings.Contains(err.Error(), "over the limit of 1 MiB") {
		t.Fatalf("a big file: %v", err)
	}
	var b strings.Builder
	b.WriteString("types:\n")
	for i := range maxTypes + 1 {
		fmt.Fprintf(&b, "  T%d: {key: [id], versions: [{version: 1, fields: {id: string}}]}\n", i)
	}
	if _, err := Parse("many.yaml", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "at most 256") {
		t.Fatalf("too many types: %v", err)
	}
}

func TestAllowUnknownFuncs(t *testing.T) {
	file := []byte(`types:
  A:
    key: [id]
    versions:
      - version: 1
        fields: {id: string, name: string}
      - version: 2
        migrate: [{func: nowhere}]
        fields: {id: string, full_name: string}
`)
	if _, err := Parse("f.yaml", file); err == nil {
		t.Fatal("an unknown func is accepted")
	}
	m, err := ParseWith("f.yaml", file, Options{AllowUnknownFuncs: true})
	if err != nil {
		t.Fatal(err)
	}
	a := mustType(t, m, "A")
	if _, err := a.Upgrade(1, Object{"id": "x", "name": "n"}); err == nil || !strings.Contains(err.Error(), `"nowhere" is not registered`) {
		t.Fatalf("Upgrade through an unknown func: %v", err)
	}
}

func TestFuncMigrations(t *testing.T) {
	m, err := Parse("f.yaml", []byte(`types:
  A:
    key: [id]
    versions:
      - version: 1
        fields: {id: string, name: string, count: int}
      - version: 2
        migrate: [{func: test_upper_name}]
        fields: {id: string, name: string, count: int}
      - version: 3
        migrate: [{func: test_bad_output}]
        fields: {id: string, name: string, count: int}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := mustType(t, m, "A")
	got, err := a.UpgradeStep(1, Object{"id": "x", "name": "ann", "count": 1})
	if err != nil || got["name"] != "ANN" {
		t.Fatalf("UpgradeStep: %v %v", got, err)
	}
	_, err = a.Upgrade(1, Object{"id": "x", "name": "ann", "count": 1})
	want := `A version 2 to 3: migration func "test_bad_output" gave an object that does not fit version 3: $.count: expected integer, got string`
	if err == nil || err.Error() != want {
		t.Fatalf("Upgrade: %v\nwant %s", err, want)
	}
}

func TestValidObjects(t *testing.T) {
	m := exampleModel(t)
	cust := mustType(t, m, "Customer")
	obj, err := cust.Validate(1, []byte(`{"id":"c1","name":"Ada Lovelace","created":"2024-03-01T12:00:00.500+01:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Object{"id": "c1", "name": "Ada Lovelace", "email": nil, "created": "2024-03-01T11:00:00.5Z"}
	if !reflect.DeepEqual(obj, want) {
		t.Fatalf("Validate: %v, want %v", obj, want)
	}
	up, err := cust.Upgrade(1, obj)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(Encode(up)); got != `{"created":"2024-03-01T11:00:00.5Z","email":null,"first_name":"Ada","id":"c1","last_name":"Lovelace","newsletter":false,"tier":"basic"}` {
		t.Fatalf("Upgrade: %s", got)
	}
	prod := mustType(t, m, "Product")
	p, err := prod.Validate(1, []byte(`{"sku":"p1","title":"Saw","price":"12.50e1","weight_kg":2,"stock":3,"image":"AAE=","category":"tools","tags":["x"],"attributes":{"colour":"red"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(Encode(p)); got != `{"attributes":{"colour":"red"},"category":"tools","discontinued":false,"image":"AAE=","price":"125","sku":"p1","stock":3,"tags":["x"],"title":"Saw","weight_kg":2.0}` {
		t.Fatalf("Encode: %s", got)
	}
}

func TestDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "-0": "0", "-0.000": "0", "1.50": "1.5", "001.0100": "1.01", "1e3": "1000",
		"1.5E-3": "0.0015", "-12.3400e1": "-123.4", ".5": "0.5", "5.": "5", "+7": "7",
	} {
		if got, err := canonicalDecimal(in); err != nil || got != want {
			t.Errorf("canonicalDecimal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "e5", "1e", "0x10", "1,5", "1e99999", "NaN"} {
		if got, err := canonicalDecimal(in); err == nil {
			t.Errorf("canonicalDecimal(%q) = %q, want an error", in, got)
		}
	}
}

// invalidObjects are objects the example model rejects, with the exact
// message.
var invalidObjects = []struct{ typ, data, want string }{
	{"Customer", `[]`, `$: expected object, got array`},
	{"Customer", `{"id":"c1","nmae":"x","created":"2024-01-01T00:00:00Z"}`, `$: unknown field "nmae" (did you mean name?)`},
	{"Customer", `{"name":"x","created":"2024-01-01T00:00:00Z"}`, `$.id: required field missing`},
	{"Customer", `{"id":"c1","id":"c2","name":"x","created":"2024-01-01T00:00:00Z"}`, `$: duplicate field "id"`},
	{"Customer", `{"id":"c1","name":"x","created":"yesterday"}`, `$.created: "yesterday" is not an RFC 3339 timestamp`},
	{"Customer", `{"id":"c1","name":"x","created":"2024-01-01T00:00:00Z"} {}`, `$: trailing data after the object at byte 57`},
	{"Customer", `{"id":1,"name":"x","created":"2024-01-01T00:00:00Z"}`, `$.id: expected string, got number`},
	{"Customer", `{"id":"c1","name":null,"created":"2024-01-01T00:00:00Z"}`, `$.name: expected string, got null`},
	{"Customer", `{"id":"c1","name":"x",`, `$: invalid JSON: unexpected end of input`},
	{"Product", `{"sku":"p","title":"t","price":"1,5","weight_kg":1,"stock":1,"category":"toys","tags":[],"attributes":{}}`, `$.price: "1,5" is not a decimal`},
	{"Product", `{"sku":"p","title":"t","price":1,"weight_kg":1,"stock":1.5,"category":"toys","tags":[],"attributes":{}}`, `$.stock: expected integer, got 1.5`},
	{"Product", `{"sku":"p","title":"t","price":1,"weight_kg":1,"stock":99999999999999999999,"category":"toys","tags":[],"attributes":{}}`, `$.stock: 99999999999999999999 is out of the int range`},
	{"Product", `{"sku":"p","title":"t","price":1,"weight_kg":1,"stock":1,"category":"games","tags":[],"attributes":{}}`, `$.category: "games" is not one of books, tools, toys`},
	{"Product", `{"sku":"p","title":"t","price":1,"weight_kg":1,"stock":1,"category":"toys","tags":["a",2],"attributes":{}}`, `$.tags[1]: expected string, got number`},
	{"Product", `{"sku":"p","title":"t","price":1,"weight_kg":1,"stock":1,"category":"toys","tags":[],"attributes":{"size x":3}}`, `$.attributes["size x"]: expected string, got number`},
	{"Product", `{"sku":"p","title":"t","price":1,"weight_kg":1,"stock":1,"image":"!!","category":"toys","tags":[],"attributes":{}}`, `$.image: "!!" is not standard base64`},
	{"Order", `{"id":"o1","customer_id":"c1","placed":"2024-01-01T00:00:00Z","status":"open","lines":[],"total":1,"shipping_address":{"street":"s","city":"c","zip":1234}}`, `$.shipping_address.zip: expected string, got number`},
	{"Order", `{"id":"o1","customer_id":"c1","placed":"2024-01-01T00:00:00Z","status":"open","lines":[{"sku":"p","quantity":1}],"total":1,"shipping_address":{"street":"s","city":"c","zip":"z"}}`, `$.lines[0].unit_price: required field missing`},
	{"Shipment", `{"order_id":"o1","seq":1,"customer_id":"c1","carrier":"fedex","weight_kg":1,"delivered":false}`, `$.carrier: "fedex" is not one of dhl, ups, postnl`},
	{"Shipment", `{"order_id":"o1","seq":1,"customer_id":"c1","carrier":"dhl","weight_kg":1e999,"delivered":false}`, `$.weight_kg: 1e999 is out of the float range`},
	{"Customer", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), `$.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a: nesting deeper than 32`},
}

func TestValidateInvalid(t *testing.T) {
	m := exampleModel(t)
	for _, tc := range invalidObjects {
		_, err := mustType(t, m, tc.typ).Validate(1, []byte(tc.data))
		var oe *ObjectError
		if !errors.As(err, &oe) {
			t.Errorf("%s %s: error %v is no *ObjectError", tc.typ, tc.data, err)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.typ, tc.data, err, tc.want)
		}
	}
	big := []byte(`{"id":"` + strings.Repeat("x", maxObjectSize) + `"}`)
	if _, err := mustType(t, m, "Customer").Validate(1, big); err == nil || !strings.Contains(err.Error(), "over the limit of 1 MiB") {
		t.Errorf("a big document: %v", err)
	}
}

func TestKeys(t *testing.T) {
	m := exampleModel(t)
	cust, order, ship := mustType(t, m, "Customer"), mustType(t, m, "Order"), mustType(t, m, "Shipment")
	r := rand.New(rand.NewPCG(1, 2))
	c := cust.Sample(2, r)
	c["id"] = "c1"
	o := order.Sample(1, r)
	o["customer_id"] = "c1"
	ca, err := cust.AffinityKey(c)
	if err != nil {
		t.Fatal(err)
	}
	oa, err := order.AffinityKey(o)
	if err != nil || ca != oa || ca != "c1" {
		t.Fatalf("affinity keys %q and %q (%v)", ca, oa, err)
	}
	pk, err := cust.PrimaryKey(c)
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err := cust.ParseKey("c1"); err != nil || parsed != pk {
		t.Fatalf("ParseKey(c1) = %q, %v; PrimaryKey %q", parsed, err, pk)
	}
	if got := cust.KeyString(pk); got != "c1" {
		t.Fatalf("KeyString = %q", got)
	}
	s := ship.Sample(1, r)
	s["customer_id"], s["order_id"], s["seq"] = "c1", "o1", int64(42)
	spk, err := ship.PrimaryKey(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := ship.KeyString(spk); got != "c1,o1,42" {
		t.Fatalf("KeyString = %q", got)
	}
	if route, err := ship.RouteKey(spk); err != nil || route != "c1" {
		t.Fatalf("RouteKey = %q, %v; want the customer's, c1", route, err)
	}
	if _, err := ship.ParseKey("c1,o1"); err == nil {
		t.Fatal("ParseKey accepts a composite key's first parts alone")
	}
	if k, err := ship.ParseKey("c1,o1,42"); err != nil || k != spk {
		t.Fatalf("ParseKey(c1,o1,42) = %q, %v", k, err)
	}
	// SetKey gives an object the key its text names.
	s2 := ship.Sample(1, r)
	if k, err := ship.SetKey(s2, "c1,o1,42"); err != nil || k != spk || s2["order_id"] != "o1" || s2["seq"] != int64(42) {
		t.Fatalf("SetKey = %q, %v; object %v", k, err, s2)
	}
	if k, err := ship.SetKey(s2, ship.SampleKey(7)); err != nil || ship.KeyString(k) != "k7,k7,7" {
		t.Fatalf("SetKey(SampleKey(7)) = %q, %v", ship.KeyString(k), err)
	}
	c["email"] = nil
	entries, err := cust.IndexEntries(c)
	if err != nil || len(entries) != 0 {
		t.Fatalf("a null email is indexed: %v %v", entries, err)
	}
	c["email"] = "a@b"
	entries, err = cust.IndexEntries(c)
	if err != nil || len(entries) != 1 || entries[0] != (IndexEntry{Index: "by_email", Key: EncodeKey("a@b"), Unique: true}) {
		t.Fatalf("IndexEntries: %v %v", entries, err)
	}
}

func TestEncodeKeyOrder(t *testing.T) {
	ordered := [][]any{
		{"", "a", "a\x00", "a\x00b", "ab", "b"},
		{int64(-1 << 63), int64(-1), int64(0), int64(1), int64(1<<63 - 1)},
		{-1e300, -1.5, -0.0001, 0.0, 1e-300, 2.5, 1e300},
		{false, true},
	}
	for _, vals := range ordered {
		for i := 1; i < len(vals); i++ {
			if !(EncodeKey(vals[i-1]) < EncodeKey(vals[i])) {
				t.Errorf("EncodeKey(%#v) >= EncodeKey(%#v)", vals[i-1], vals[i])
			}
		}
	}
	// Tuples: the first value decides, whatever follows.
	if !(EncodeKey("a", int64(9)) < EncodeKey("a\x00", int64(0))) {
		t.Error("tuple order broken by a string prefix")
	}
}
