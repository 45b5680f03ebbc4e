package graphql

import "testing"

// BenchmarkExecuteLookup is a point lookup against the in-memory data:
// what the executor costs beside storage, parsing and validating the
// query included; BenchmarkExecutePrepared runs it Prepared, as
// core/live does a query it has seen before.
func BenchmarkExecuteLookup(b *testing.B) {
	s := exampleSchema(b)
	d := seed(b, s)
	req := Request{Schema: s, Data: d, Query: `query ($k: String!) { Customer(id: $k) { id first_name last_name tier _revision } }`,
		Variables: map[string]any{"k": "c1"}}
	for b.Loop() {
		if resp := Execute(req); len(resp.Errors) > 0 {
			b.Fatal(resp.Errors)
		}
	}
}

// BenchmarkExecuteRelation is a lookup with its one-to-many relation.
func BenchmarkExecuteRelation(b *testing.B) {
	s := exampleSchema(b)
	d := seed(b, s)
	req := Request{Schema: s, Data: d, Query: `query ($k: String!) { Customer(id: $k) { id first_name tier orders { edges { node { id status total } } } } }`,
		Variables: map[string]any{"k": "c1"}}
	for b.Loop() {
		if resp := Execute(req); len(resp.Errors) > 0 {
			b.Fatal(resp.Errors)
		}
	}
}

func BenchmarkExecutePrepared(b *testing.B) {
	s := exampleSchema(b)
	d := seed(b, s)
	q := `query ($k: String!) { Customer(id: $k) { id first_name last_name tier _revision } }`
	doc, errs := Prepare(s, q)
	if errs != nil {
		b.Fatal(errs)
	}
	req := Request{Schema: s, Data: d, Query: q, Document: doc, Variables: map[string]any{"k": "c1"}}
	for b.Loop() {
		if resp := Execute(req); len(resp.Errors) > 0 {
			b.Fatal(resp.Errors)
		}
	}
}
