package graphql

import (
	"container/list"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"
)

// docCache keeps the documents of a schema's recent queries, parsed and
// validated: validating a query costs more than running a lookup
// (BenchmarkExecuteLookup), and clients send the same few queries with
// other variables. It holds at most maxCachedDocs documents whose query
// text adds up to at most maxCachedBytes, and drops the least recently
// used first. A validated document is only read after validation, so
// requests share it.
type docCache struct {
	mu    sync.Mutex
	order *list.List               // of *cachedDoc, the most recently used first
	byKey map[string]*list.Element // query text → its element in order
	bytes int                      // the query text held
}

type cachedDoc struct {
	query string
	doc   *ast.QueryDocument
}

// The bounds of a schema's document cache.
const (
	maxCachedDocs  = 512
	maxCachedBytes = 4 << 20
)

func newDocCache() *docCache {
	return &docCache{order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the validated document of query, if it is kept (never,
// in a nil cache: a Schema not made by NewSchema keeps none).
func (c *docCache) get(query string) (*ast.QueryDocument, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[query]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cachedDoc).doc, true
}

// put keeps doc, the validated document of query.
func (c *docCache) put(query string, doc *ast.QueryDocument) {
	if c == nil || len(query) > maxCachedBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[query]; ok {
		return
	}
	c.byKey[query] = c.order.PushFront(&cachedDoc{query: query, doc: doc})
	c.bytes += len(query)
	for c.order.Len() > maxCachedDocs || c.bytes > maxCachedBytes {
		last := c.order.Back()
		d := last.Value.(*cachedDoc)
		c.order.Remove(last)
		delete(c.byKey, d.query)
		c.bytes -= len(d.query)
	}
}

// len is the number of documents kept.
func (c *docCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
