// Package jsonvalue holds what the engine's packages that read JSON into
// Go values (core/route, core/handler, core/model) share about those
// values: nil, bool, json.Number, string, []any and map[string]any, as
// encoding/json gives them with UseNumber.
package jsonvalue

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Kind names v's JSON kind for messages: "null", "a boolean", "a number",
// "a string", "an array", "an object" (a value of another Go type: "a Go
// T").
func Kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a Go %T", v)
}

// Copy copies v, sharing no array or object with it.
func Copy(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Copy(e)
		}
		return out
	case map[string]any:
		return CopyObject(x)
	}
	return v
}

// CopyObject copies an object (nil stays nil).
func CopyObject(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out[k] = Copy(m[k])
	}
	return out
}
