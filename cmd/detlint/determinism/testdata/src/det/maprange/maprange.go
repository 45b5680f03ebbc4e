// Package maprange exercises the maprange rule.
package maprange

import (
	"cmp"
	"maps"
	"slices"
	"sort"
)

type set map[string]bool

func keys(m map[string]int, s set) []string {
	var out []string
	for k := range m { // want `^range over a map: its order is random; iterate sorted keys or mark the line //detlint:unordered <reason> \[maprange\]$`
		out = append(out, k)
	}
	for k := range s { // want `range over a map`
		out = append(out, k)
	}
	for k := range m { //detlint:unordered sorted below
		out = append(out, k)
	}
	for range m { //detlint:allow maprange only counts
	}
	sort.Strings(out)

	for k := range maps.Keys(m) { // want `^maps.Keys yields in random order; wrap it in slices.Sorted or mark the line //detlint:unordered <reason> \[maprange\]$`
		out = append(out, k)
	}
	_ = slices.Collect(maps.Values(m)) // want `maps.Values`
	for range maps.All(m) {            //detlint:unordered only counts
	}
	byKey := maps.Keys[map[string]int] // want `maps.Keys`
	_ = byKey

	_ = slices.Sorted(maps.Keys(m))
	_ = slices.SortedFunc(maps.Values(m), cmp.Compare)
	_ = slices.SortedStableFunc(maps.Keys(s), cmp.Compare)
	for v := range slices.Values(out) {
		_ = v
	}
	return out
}

func generic[M ~map[K]V, K comparable, V any](m M) {
	for range m { // want `range over a map`
	}
}
