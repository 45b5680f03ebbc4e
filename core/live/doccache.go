package live

import (
	"container/list"
	"sync"

	"github.com/shoaldb/shoal/core/graphql"
)

// docCache keeps the documents of a schema's recent queries, parsed and
// validated (graphql.Prepare): validating a query costs more than
// running a lookup (core/graphql's BenchmarkExecuteLookup), and clients
// send the same few queries with other variables. It holds at most
// maxCachedDocs documents whose query text adds up to at most
// maxCachedBytes, and drops the least recently used first. Queries that
// fail to prepare are not kept.
type docCache struct {
	mu    sync.Mutex
	order *list.List               // of *cachedDoc, the most recently used first
	byKey map[string]*list.Element // query text → its element in order
	bytes int                      // the query text held
}

type cachedDoc struct {
	query string
	doc   *graphql.Document
}

// The bounds of a schema's document cache.
const (
	maxCachedDocs  = 512
	maxCachedBytes = 4 << 20
)

func newDocCache() *docCache {
	return &docCache{order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the prepared document of query, if it is kept (never, in
// a nil cache).
func (c *docCache) get(query string) (*graphql.Document, bool) {
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

// put keeps doc, the prepared document of query.
func (c *docCache) put(query string, doc *graphql.Document) {
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
