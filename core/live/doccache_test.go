package live

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// The cache keeps a query once prepared, drops the least recently used
// past its bounds, and keeps nothing that failed.
func TestDocCache(t *testing.T) {
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	var c schemaCache
	s, err := c.get("d1", m, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := `{ Customer(id: "c1") { id } }`
	d1, errs := c.document(s, q)
	d2, _ := c.document(s, q)
	if errs != nil || d1 == nil || d1 != d2 {
		t.Fatalf("prepared twice: %p %p %v, want one document", d1, d2, errs)
	}
	if _, errs := c.document(s, `{ Customer(id: "c1") { nope } }`); errs == nil {
		t.Fatal("a query of no field prepared")
	}
	c.document(s, `{ Customer(`)
	if n := c.docs.len(); n != 1 {
		t.Fatalf("%d documents kept after two bad queries, want 1", n)
	}
	for i := range maxCachedDocs + 10 {
		c.document(s, fmt.Sprintf(`{ a%d: Customer(id: "c1") { id } }`, i))
	}
	if n := c.docs.len(); n != maxCachedDocs {
		t.Fatalf("%d documents kept, want %d", n, maxCachedDocs)
	}
	if _, ok := c.docs.get(q); ok {
		t.Error("the least recently used query is still kept")
	}
	if _, ok := c.docs.get(fmt.Sprintf(`{ a%d: Customer(id: "c1") { id } }`, maxCachedDocs+9)); !ok {
		t.Error("the most recent query is not kept")
	}
	big := strings.Repeat(" ", 60<<10)
	for i := range 80 {
		c.docs.put(fmt.Sprintf("%d%s", i, big), d1)
	}
	if c.docs.bytes > maxCachedBytes {
		t.Errorf("%d bytes of queries kept, over %d", c.docs.bytes, maxCachedBytes)
	}
	// A new model: a new schema, whose cache starts empty, and the old
	// schema's queries are no longer kept.
	s2, err := c.get("d2", m, nil)
	if err != nil || s2 == s {
		t.Fatalf("schema %p after %p: %v", s2, s, err)
	}
	if n := c.docs.len(); n != 0 {
		t.Errorf("%d documents kept for a new schema", n)
	}
	if d, _ := c.document(s, q); d == nil || c.docs.len() != 0 {
		t.Errorf("a query of the old schema: %v, %d kept", d, c.docs.len())
	}
}
