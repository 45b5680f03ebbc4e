package graphql

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Requests share a prepared document: run under -race, this fails if
// executing a query writes into its document. Each answer is the one
// its variables ask for.
func TestDocumentShared(t *testing.T) {
	s := exampleSchema(t)
	q := `query ($k: String!) { Customer(id: $k) { id orders { edges { node { id } } } } }`
	doc, errs := Prepare(s, q)
	if errs != nil {
		t.Fatal(errs)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		d := seed(t, s) // each its own: the in-memory data is not safe to share
		wg.Go(func() {
			k := fmt.Sprintf("c%d", i%3+1)
			for range 50 {
				got := respJSON(t, Execute(Request{Schema: s, Query: q, Document: doc, Variables: map[string]any{"k": k}, Data: d}))
				if !strings.Contains(got, `"id":"`+k+`"`) {
					t.Errorf("%s: %s", k, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A document runs only as the query, on the schema, it was prepared for;
// Prepare refuses what Execute would.
func TestDocumentMismatch(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	doc, errs := Prepare(s, `{ Customer(id: "c1") { id } }`)
	if errs != nil {
		t.Fatal(errs)
	}
	other := exampleSchema(t)
	for _, req := range []Request{
		{Schema: s, Query: `{ Customer(id: "c2") { id } }`, Document: doc, Data: d},
		{Schema: other, Query: `{ Customer(id: "c1") { id } }`, Document: doc, Data: d},
	} {
		if got := respJSON(t, Execute(req)); !strings.Contains(got, "the request's document is not its query's on its schema") {
			t.Errorf("%s", got)
		}
	}
	if _, errs := Prepare(s, `{ Customer(id: "c1") { nope } }`); errs == nil {
		t.Error("Prepare took a field the schema lacks")
	}
	if _, errs := Prepare(s, strings.Repeat(" ", MaxQueryBytes+1)); errs == nil {
		t.Error("Prepare took a query over MaxQueryBytes")
	}
}
