package api

import (
	"fmt"
	"slices"
	"strings"
)

// Page is one replicaset's answer to a listing asked after a primary key
// (the query's After): every object of it the filters keep with a primary
// key after that one and up to Last, or to the end when More is false,
// in primary key order (kv.ListPage).
type Page[T any] struct {
	Items []T
	// More says that the replicaset holds objects after Last that it has
	// not examined; Last is the last primary key it examined.
	More bool
	Last string
}

// Merge merges the pages of every replicaset, each asked for the objects
// after the primary key after, into the listing's page of at most limit
// objects: the first in primary key order among those every page covers
// (up to the smallest Last of a page with more). next is the primary key
// the listing continues after (Query.Cursor makes the cursor of it) when
// more is set; it is always past after, so following it makes progress.
// An object that two pages hold (a bucket moving between replicasets)
// comes once, from the first of them. A page that breaks its contract
// (keys out of order, not past after, past its own Last) is an error.
func Merge[T any](after string, limit int, pages []Page[T], pk func(T) string) (items []T, next string, more bool, err error) {
	if limit < 1 {
		return nil, "", false, fmt.Errorf("api: merging pages: limit %d", limit)
	}
	bound, bounded := "", false
	for i, p := range pages {
		prev := after
		for j, it := range p.Items {
			k := pk(it)
			if k <= prev {
				return nil, "", false, fmt.Errorf("api: merging pages: page %d: object %d has key %q, not past %q", i, j, k, prev)
			}
			prev = k
		}
		if !p.More {
			continue
		}
		if p.Last <= after || p.Last < prev {
			return nil, "", false, fmt.Errorf("api: merging pages: page %d has more after %q, before its last object %q or not past %q", i, p.Last, prev, after)
		}
		if !bounded || p.Last < bound {
			bound, bounded = p.Last, true
		}
	}
	type entry struct {
		key  string
		item T
	}
	var all []entry
	for _, p := range pages {
		for _, it := range p.Items {
			if k := pk(it); !bounded || k <= bound {
				all = append(all, entry{k, it})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	all = slices.CompactFunc(all, func(a, b entry) bool { return a.key == b.key })
	if len(all) > limit {
		all = all[:limit]
		next, more = all[limit-1].key, true
	} else if bounded {
		next, more = bound, true
	}
	for _, e := range all {
		items = append(items, e.item)
	}
	return items, next, more, nil
}
