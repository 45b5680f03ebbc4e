package graphql

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// The cache keeps a query once validated, drops the least recently used
// past its bounds, and keeps nothing that failed.
func TestDocCache(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	q := `{ Customer(id: "c1") { id } }`
	for range 2 {
		if got := run(t, s, d, q, nil); got != `{"data":{"Customer":{"id":"c1"}}}` {
			t.Fatal(got)
		}
	}
	if n := s.docs.len(); n != 1 {
		t.Fatalf("%d documents kept, want 1", n)
	}
	run(t, s, d, `{ Customer(id: "c1") { nope } }`, nil)
	run(t, s, d, `{ Customer(`, nil)
	if n := s.docs.len(); n != 1 {
		t.Fatalf("%d documents kept after two bad queries, want 1", n)
	}
	for i := range maxCachedDocs + 10 {
		run(t, s, d, fmt.Sprintf(`{ a%d: Customer(id: "c1") { id } }`, i), nil)
	}
	if n := s.docs.len(); n != maxCachedDocs {
		t.Fatalf("%d documents kept, want %d", n, maxCachedDocs)
	}
	if _, ok := s.docs.get(q); ok {
		t.Error("the least recently used query is still kept")
	}
	if _, ok := s.docs.get(fmt.Sprintf(`{ a%d: Customer(id: "c1") { id } }`, maxCachedDocs+9)); !ok {
		t.Error("the most recent query is not kept")
	}
	big := `{ Customer(id: "c1") { id } }` + strings.Repeat(" ", 60<<10)
	for i := range 80 {
		s.docs.put(fmt.Sprintf("%d%s", i, big), nil)
	}
	if s.docs.bytes > maxCachedBytes {
		t.Errorf("%d bytes of queries kept, over %d", s.docs.bytes, maxCachedBytes)
	}
}

// Requests share a cached document: run under -race, this fails if
// executing a query writes into its document. Each answer is the one
// its variables ask for.
func TestDocCacheShared(t *testing.T) {
	s := exampleSchema(t)
	q := `query ($k: String!) { Customer(id: $k) { id orders { edges { node { id } } } } }`
	var wg sync.WaitGroup
	for i := range 8 {
		d := seed(t, s) // each its own: the in-memory data is not safe to share
		wg.Go(func() {
			k := fmt.Sprintf("c%d", i%3+1)
			for range 50 {
				got := run(t, s, d, q, map[string]any{"k": k})
				if !strings.Contains(got, `"id":"`+k+`"`) {
					t.Errorf("%s: %s", k, got)
					return
				}
			}
		})
	}
	wg.Wait()
}
