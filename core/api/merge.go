package api

import (
	"fmt"
	"slices"
)

// Page is one replicaset's answer to a listing asked after a position
// (the query's After) in the listing's order: every object of it the
// filters keep with a position after that one and up to Last, or to the
// end when More is false, in that order (kv.ListPage).
type Page[T any] struct {
	Items []T
	// More says that the replicaset holds objects after Last that it has
	// not examined; Last is the position of the last object it examined.
	More bool
	Last string
}

// Merge merges the pages of every replicaset, each asked for the objects
// after the position after ("": from the first), into the listing's page
// of at most limit objects: the first in the listing's order among those
// every page covers (up to the smallest Last of a page with more). pos
// is an object's position and key its primary key. Positions compare
// byte by byte in ascending order (a primary key, or
// kv.ListOrder.Position's), reversed when desc is set (Order.Compare),
// so one merge serves every order. next is the position the listing
// continues after (Query.Cursor makes the cursor of it) when more is
// set; it is always past after, so following it makes progress. An
// object that two pages hold (a bucket moving between replicasets) comes
// once, from the first of them in the listing's order: by its key, since
// in an index's order the two copies may stand at different positions
// (one replicaset read it before a write changed its entry, the other
// after). A page that breaks its contract (positions out of order, not
// past after, past its own Last) is an error.
func Merge[T any](desc bool, after string, limit int, pages []Page[T], pos, key func(T) string) (items []T, next string, more bool, err error) {
	if limit < 1 {
		return nil, "", false, fmt.Errorf("api: merging pages: limit %d", limit)
	}
	cmp := Order{Desc: desc}.Compare
	bound, bounded := "", false
	for i, p := range pages {
		prev := after
		for j, it := range p.Items {
			k := pos(it)
			if cmp(k, prev) <= 0 {
				return nil, "", false, fmt.Errorf("api: merging pages: page %d: object %d is at %q, not past %q", i, j, k, prev)
			}
			prev = k
		}
		if !p.More {
			continue
		}
		if cmp(p.Last, after) <= 0 || cmp(p.Last, prev) < 0 {
			return nil, "", false, fmt.Errorf("api: merging pages: page %d has more after %q, before its last object %q or not past %q", i, p.Last, prev, after)
		}
		if !bounded || cmp(p.Last, bound) < 0 {
			bound, bounded = p.Last, true
		}
	}
	type entry struct {
		pos  string
		item T
	}
	var all []entry
	for _, p := range pages {
		for _, it := range p.Items {
			if k := pos(it); !bounded || cmp(k, bound) <= 0 {
				all = append(all, entry{k, it})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b entry) int { return cmp(a.pos, b.pos) })
	seen := make(map[string]bool, len(all))
	kept := all[:0]
	for _, e := range all {
		if k := key(e.item); !seen[k] {
			seen[k] = true
			kept = append(kept, e)
		}
	}
	all = kept
	if len(all) > limit {
		all = all[:limit]
		next, more = all[limit-1].pos, true
	} else if bounded {
		next, more = bound, true
	}
	for _, e := range all {
		items = append(items, e.item)
	}
	return items, next, more, nil
}
