package yamlcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"

	"go.yaml.in/yaml/v3"
)

// Document parses data as one YAML document and returns its root node,
// or nil after reporting to r why there is none: the file is over
// MaxFileSize, empty, not YAML, holds a second document or an alias, or
// holds nothing (null). holds names what a file of the format holds, for
// the messages: "the file holds no scenario".
func Document(r *Report, data []byte, holds string) *yaml.Node {
	if len(data) > MaxFileSize {
		r.Addf(nil, "", "the file is %d bytes, over the limit of 1 MiB", len(data))
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.Addf(nil, "", "the file is empty")
		} else {
			line, msg := syntaxError(err)
			r.Addf(&yaml.Node{Line: line}, "", "%s", msg)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			line, msg := syntaxError(err)
			r.Addf(&yaml.Node{Line: line}, "", "%s", msg)
		} else {
			r.Addf(&next, "", "a second YAML document: a %s file holds one", holds)
		}
		return nil
	}
	// Aliases would let a small file expand into a huge one, and would
	// give one value several lines and paths; no format has a use for
	// them.
	stack := []*yaml.Node{&doc}
	aliases := false
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Kind == yaml.AliasNode {
			r.Addf(n, "", "alias *%s: aliases are not supported, write the value out", n.Value)
			aliases = true
			continue
		}
		for i := len(n.Content) - 1; i >= 0; i-- {
			stack = append(stack, n.Content[i])
		}
	}
	if aliases {
		return nil
	}
	if len(doc.Content) == 0 || IsNull(doc.Content[0]) {
		r.Addf(&doc, "", "the file holds no %s", holds)
		return nil
	}
	return doc.Content[0]
}

// IsNull reports whether n is a null scalar (null, ~ or nothing).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Pairs yields the keys and values of mapping n in order, except a key
// that is no scalar (reported at path as keyRule, such as "a key must be
// a name", then ", got" and what it is) or that repeats an earlier key
// (reported as a duplicate). It reports each one as the loop reaches it,
// so that problems stay in the order of the file.
func Pairs(r *Report, n *yaml.Node, path, keyRule string) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(k, v *yaml.Node) bool) {
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				r.Addf(k, path, "%s, got %s", keyRule, Describe(k))
				continue
			}
			if first, dup := seen[k.Value]; dup {
				r.Addf(k, path, "duplicate key %s (first at line %d)", Quote(k.Value), first.Line)
				continue
			}
			seen[k.Value] = k
			if !yield(k, v) {
				return
			}
		}
	}
}

// The readers below check that a node holds a value of one kind and
// return it, or its zero value and why not: the end of a message whose
// subject the format names ("must be a string, got 3"). why is "" when
// the value is good.

// Str reads a string.
func Str(n *yaml.Node) (s, why string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", "must be a string, got " + Describe(n)
	}
	return n.Value, ""
}

// Bool reads true or false.
func Bool(n *yaml.Node) (b bool, why string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		return false, "must be true or false, got " + Describe(n)
	}
	return b, ""
}

// Int reads an integer in lo..hi.
func Int(n *yaml.Node, lo, hi int) (i int, why string) {
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		return 0, "must be an integer, got " + Describe(n)
	}
	if v < int64(lo) || v > int64(hi) {
		return 0, fmt.Sprintf("must be in %d..%d, got %s", lo, hi, Describe(n))
	}
	return int(v), ""
}

// List reads a list of at most max items.
func List(n *yaml.Node, max int) (items []*yaml.Node, why string) {
	if n.Kind != yaml.SequenceNode {
		return nil, "must be a list, got " + Describe(n)
	}
	if len(n.Content) > max {
		return nil, fmt.Sprintf("has %d entries, at most %d", len(n.Content), max)
	}
	return n.Content, ""
}
