package model

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors have the
// documented shape, and that an accepted model parses again from its
// source to the same description.
func FuzzParse(f *testing.F) {
	f.Add(exampleFile(f, "model.yaml"))
	f.Add(exampleFile(f, "model-next.yaml"))
	for _, tc := range invalidModels {
		f.Add([]byte(tc.file))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.yaml", data)
		if err != nil {
			if m != nil {
				t.Fatal("Parse returned a model with its error")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 || len(list) > maxErrors+1 {
				t.Fatalf("error %T %v is not an ErrorList of 1..%d", err, err, maxErrors+1)
			}
			for i, e := range list {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Msg == "" || (i > 0 && e.Line < list[i-1].Line) {
					t.Fatalf("malformed error %d: %#v", i, e)
				}
			}
			return
		}
		again, err := Parse("again.yaml", m.Source())
		if err != nil {
			t.Fatalf("an accepted model does not parse again: %v", err)
		}
		if again.Digest() != m.Digest() {
			t.Fatal("the same model has two digests")
		}
		if err := m.CheckSuccessor(again); err != nil {
			t.Fatalf("a model is not its own successor: %v", err)
		}
	})
}

// FuzzValidate checks that Validate never panics on any input, and that
// what it accepts round-trips through Encode and Decode and passes Check
// and Upgrade.
func FuzzValidate(f *testing.F) {
	m, err := Parse("model.yaml", exampleFile(f, "model.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	typeNames := []string{"Customer", "Order", "Product", "Shipment"}
	for _, tc := range invalidObjects {
		f.Add(tc.typ, []byte(tc.data))
	}
	f.Add("Customer", []byte(`{"id":"c1","name":"Ada Lovelace","created":"2024-03-01T12:00:00.500+01:00"}`))
	f.Add("Order", []byte(`{"id":"o1","customer_id":"c1","placed":"2024-01-01T00:00:00Z","status":"open","lines":[{"sku":"p","quantity":1,"unit_price":"1.50"}],"total":1,"shipping_address":{"street":"s","city":"c","zip":"z"}}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		ty, ok := m.Type(typ)
		if !ok {
			ty = m.Types[len(typ)%len(typeNames)]
		}
		obj, err := ty.Validate(1, data)
		if err != nil {
			var oe *ObjectError
			if !errors.As(err, &oe) || !strings.HasPrefix(oe.Path, "$") {
				t.Fatalf("error %T %v is no *ObjectError with a path", err, err)
			}
			return
		}
		back, err := Decode(Encode(obj))
		if err != nil || !reflect.DeepEqual(back, obj) {
			t.Fatalf("Decode(Encode(o)) = %v, %v; o = %v", back, err, obj)
		}
		if err := ty.Check(1, back); err != nil {
			t.Fatalf("Check rejects what Validate accepted: %v", err)
		}
		up, err := ty.Upgrade(1, obj)
		if err != nil {
			t.Fatalf("Upgrade: %v", err)
		}
		if _, err := ty.PrimaryKey(up); err != nil {
			t.Fatalf("PrimaryKey: %v", err)
		}
	})
}
