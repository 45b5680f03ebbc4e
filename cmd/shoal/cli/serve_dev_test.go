package cli

import (
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
)

func exampleModelParsed(t testing.TB) *model.Model {
	m, err := model.Parse(devModelFile, examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The example dataset holds objects of every type, and two customers at
// version 1.
func TestExampleDataset(t *testing.T) {
	m := exampleModelParsed(t)
	objs, err := parseDataset(devDatasetFile, examples.Dataset, m)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	old := 0
	for _, o := range objs {
		types[o.Type]++
		if o.Version == 1 && o.Type == "Customer" {
			old++
		}
	}
	for _, typ := range []string{"Customer", "Product", "Order", "Shipment"} {
		if types[typ] == 0 {
			t.Errorf("no %s in the dataset", typ)
		}
	}
	if old != 2 {
		t.Errorf("%d customers at version 1, want 2", old)
	}
}

func TestParseDatasetErrors(t *testing.T) {
	m := exampleModelParsed(t)
	for _, tc := range []struct{ data, want string }{
		{``, "want a JSON array"},
		{`{}`, "want a JSON array"},
		{`[{"type": "Customer", "objekt": {}}]`, `unknown field "objekt"`},
		{`[] []`, "data after the array"},
		{`[{"type": "Nope", "object": {}}]`, `object 0: the model has no type "Nope"`},
		{`[{"type": "Product", "object": {"sku": "x"}}]`, "object 0 (Product version 1)"},
		{`[{"type": "Customer", "version": 7, "object": {"id": "x"}}]`, "object 0 (Customer version 7)"},
	} {
		_, err := parseDataset("d.json", []byte(tc.data), m)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "d.json: ") {
			t.Errorf("%s: %v, want an error with %q", tc.data, err, tc.want)
		}
	}
}

func FuzzParseDataset(f *testing.F) {
	f.Add(string(examples.Dataset))
	f.Add(`[{"type": "Customer", "version": 1, "object": {"id": "x", "name": "A B", "created": "2024-01-01T00:00:00Z"}}]`)
	f.Add(`[{"type": "Order", "object": null}]`)
	m := exampleModelParsed(f)
	f.Fuzz(func(t *testing.T, data string) {
		objs, err := parseDataset("d.json", []byte(data), m)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "d.json: ") {
				t.Fatalf("an error that does not name the file: %v", err)
			}
			return
		}
		for _, o := range objs {
			if _, ok := m.Type(o.Type); !ok {
				t.Fatalf("accepted type %q", o.Type)
			}
		}
	})
}
