package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shoaldb/shoal/core/jsonvalue"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/shoaldb/shoal/core/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// field is a dotted field path: customer.id names the field id of the
// object in the field customer.
type field struct {
	text  string
	names []string
}

var fieldNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// parseField reads a dotted field path, or says what is wrong with it.
func parseField(text string) (field, string) {
	if strings.HasPrefix(text, "$") {
		hint := ""
		if q, why := parseField(strings.TrimPrefix(strings.TrimPrefix(text, "$"), ".")); why == "" {
			hint = " (did you mean " + q.text + "?)"
		}
		return field{}, "a field is written without $, its names joined by dots, such as customer.id" + hint
	}
	names := strings.Split(text, ".")
	if len(names) > MaxFieldSteps {
		return field{}, fmt.Sprintf("has %d names, at most %d", len(names), MaxFieldSteps)
	}
	for _, n := range names {
		if !fieldNamePattern.MatchString(n) {
			return field{}, "a field is names of letters, digits, _ and - joined by dots, such as customer.id"
		}
	}
	return field{text: text, names: names}, ""
}

// within reports whether f is g or inside it (a.b is within a).
func (f field) within(g field) bool {
	return len(f.names) >= len(g.names) && slices.Equal(f.names[:len(g.names)], g.names)
}

// get returns the value at f in fields and whether it exists.
func (f field) get(fields map[string]any) (any, bool) {
	var v any = fields
	for _, name := range f.names {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[name]; !ok {
			return nil, false
		}
	}
	return v, true
}

// parent returns the object holding f's last name, creating the objects
// on the way when create is set; nil when there is none.
func (f field) parent(fields map[string]any, create bool) (map[string]any, error) {
	obj := fields
	for i, name := range f.names[:len(f.names)-1] {
		v, ok := obj[name]
		if !ok {
			if !create {
				return nil, nil
			}
			next := map[string]any{}
			obj[name] = next
			obj = next
			continue
		}
		next, isObj := v.(map[string]any)
		if !isObj {
			if !create {
				return nil, nil
			}
			return nil, fmt.Errorf("cannot set %s: %s is %s, not an object", f.text, strings.Join(f.names[:i+1], "."), jsonvalue.Kind(v))
		}
		obj = next
	}
	return obj, nil
}

// set puts v at f in fields, creating the objects on the way.
func (f field) set(fields map[string]any, v any) error {
	obj, err := f.parent(fields, true)
	if err != nil {
		return err
	}
	obj[f.names[len(f.names)-1]] = v
	return nil
}

// remove deletes f from fields and returns its value, if it was there.
func (f field) remove(fields map[string]any) (any, bool) {
	obj, _ := f.parent(fields, false)
	if obj == nil {
		return nil, false
	}
	last := f.names[len(f.names)-1]
	v, ok := obj[last]
	delete(obj, last)
	return v, ok
}

// encode writes a value as JSON: object keys sorted, no spaces, no HTML
// escaping, numbers as they are held. Equal values give equal bytes.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// decodeObject reads data as one JSON object, numbers as json.Number; a
// key named twice keeps its last value. why says what is wrong with data.
func decodeObject(data []byte) (obj map[string]any, why string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, "it is empty"
		}
		return nil, err.Error()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "it has more after the value"
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, "it is " + jsonvalue.Kind(v)
	}
	return obj, ""
}

// normalize turns what a Go handler made into JSON-like data that
// shares nothing with it, through its JSON encoding. The error says why
// fields cannot be: "is no JSON: ...".
func normalize(fields map[string]any) (map[string]any, error) {
	if fields == nil {
		return map[string]any{}, nil
	}
	data, err := encode(fields)
	if err != nil {
		return nil, fmt.Errorf("is no JSON: %v", err)
	}
	obj, why := decodeObject(data)
	if why != "" {
		// encoding/json reads no more than 10000 levels of nesting.
		return nil, fmt.Errorf("is no JSON it can read back: %s", why)
	}
	return obj, nil
}

// canonicalHeader returns a header name's canonical form, as Go's
// net/textproto writes it (X-Source, Content-Type): the first letter and
// each letter after a -, upper case, the others lower case. A name with
// a byte that is no letter, digit or - stays as it is.
func canonicalHeader(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return s
		}
	}
	b := []byte(s)
	upper := true
	for i, c := range b {
		switch {
		case upper && c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && c >= 'A' && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

// canonicalHeaders returns headers under their canonical names. Of two
// names that differ only in case, the one sorting first wins, as in
// core/route.
func canonicalHeaders(headers map[string]string) map[string]string {
	out := make(map[string]string, len(headers))
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		ck := canonicalHeader(k)
		if _, dup := out[ck]; !dup {
			out[ck] = headers[k]
		}
	}
	return out
}

// jsonNumber matches the numbers JSON allows.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// fromYAML turns a YAML value at path into JSON-like data, or says why
// it cannot, at which node and path. A number keeps its text when JSON
// allows it (1.50 stays 1.50), and is written in JSON's form otherwise
// (0x10 is 16).
func fromYAML(n *yaml.Node, path string) (v any, bad *yaml.Node, badPath, why string) {
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, k, path, "a key must be a string, got " + yamlcheck.Describe(k)
			}
			if _, dup := out[k.Value]; dup {
				return nil, k, path, "duplicate key " + yamlcheck.Quote(k.Value)
			}
			v, bad, badPath, why := fromYAML(n.Content[i+1], join(path, k.Value))
			if why != "" {
				return nil, bad, badPath, why
			}
			out[k.Value] = v
		}
		return out, nil, "", ""
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			v, bad, badPath, why := fromYAML(item, fmt.Sprintf("%s[%d]", path, i))
			if why != "" {
				return nil, bad, badPath, why
			}
			out = append(out, v)
		}
		return out, nil, "", ""
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil, "", ""
		case "!!bool":
			b, why := yamlcheck.Bool(n)
			if why != "" {
				return nil, n, path, why
			}
			return b, nil, "", ""
		case "!!int", "!!float":
			if jsonNumber.MatchString(n.Value) {
				return json.Number(n.Value), nil, "", ""
			}
			var i int64
			if n.ShortTag() == "!!int" && n.Decode(&i) == nil {
				return json.Number(strconv.FormatInt(i, 10)), nil, "", ""
			}
			var f float64
			if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, n, path, "must be a JSON value, got " + yamlcheck.Describe(n) + ", which is no JSON number"
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil, "", ""
		case "!!str", "!!timestamp":
			return n.Value, nil, "", ""
		}
		return nil, n, path, "must be a JSON value, got " + n.ShortTag() + " " + yamlcheck.Describe(n)
	}
	return nil, n, path, "must be a JSON value, got " + yamlcheck.Describe(n)
}
