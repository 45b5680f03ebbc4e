package route

import (
	"fmt"

	"github.com/shoaldb/shoal/core/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// This file exports the pieces of the rules format that other formats
// embed: a rules mapping inside a larger file (a pipeline's routes), the
// condition language on its own (a pipeline's filter), JSON paths, and
// the routing key names.

// ParseNode reads a rules mapping that is part of a larger file: n is its
// node, and path its path in that file (such as "routes"), which prefixes
// the path of every problem reported to report. It returns nil when it
// reported a problem.
func ParseNode(report *yamlcheck.Report, n *yaml.Node, path string) *Rules {
	// The parser reports to the caller's report: it takes it over while
	// it reads, and hands it back.
	p := &parser{report: *report, prefix: path}
	before := p.report.Len()
	r := p.file(n)
	*report = p.report
	if report.Len() != before {
		return nil
	}
	return r
}

// KeyUse is one place a rules mapping gives a routing key.
type KeyUse struct {
	Key  string
	Rule string // the name of the rule that gives it; "" for the default
	Path string // where it is written, such as routes.rules[2].keys[0]
	Line int
}

// KeyUses lists, in file order, where the rules mapping n (at path in its
// file) gives routing keys: the default, and each key of each rule. It
// is meant for a mapping ParseNode accepted, and skips what it cannot
// read.
func KeyUses(n *yaml.Node, path string) []KeyUse {
	var out []KeyUse
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "default":
			if v.Kind == yaml.ScalarNode {
				out = append(out, KeyUse{Key: v.Value, Path: join(path, "default"), Line: v.Line})
			}
		case "rules":
			if v.Kind != yaml.SequenceNode {
				continue
			}
			for j, item := range v.Content {
				out = append(out, ruleKeyUses(item, fmt.Sprintf("%s[%d]", join(path, "rules"), j))...)
			}
		}
	}
	return out
}

func ruleKeyUses(n *yaml.Node, path string) []KeyUse {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var name string
	var keys *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "name":
			name = n.Content[i+1].Value
		case "keys":
			keys = n.Content[i+1]
		}
	}
	if keys == nil {
		return nil
	}
	at := join(path, "keys")
	if keys.Kind == yaml.ScalarNode {
		return []KeyUse{{Key: keys.Value, Rule: name, Path: at, Line: keys.Line}}
	}
	var out []KeyUse
	for i, k := range keys.Content {
		if k.Kind == yaml.ScalarNode {
			out = append(out, KeyUse{Key: k.Value, Rule: name, Path: fmt.Sprintf("%s[%d]", at, i), Line: k.Line})
		}
	}
	return out
}

// ValidKey reports whether s is a valid routing key: see KeyRule.
func ValidKey(s string) bool { return len(s) <= MaxNameLen && keyPattern.MatchString(s) }

// KeyRule says what a routing key is, for messages about one.
const KeyRule = keyRule

// Condition is a condition mapping of the rules format (a rule's `when`),
// on its own. It is immutable, and safe to share.
type Condition struct {
	c *cond
}

// ParseCondition reads the condition mapping n, at path in its file,
// reporting its problems to report (with MaxDepth and MaxConditions as
// in a rule). It returns nil when it reported a problem.
func ParseCondition(report *yamlcheck.Report, n *yaml.Node, path string) *Condition {
	p := &parser{report: *report}
	before := p.report.Len()
	count := 0
	c := p.cond(n, path, 1, &count)
	if count > MaxConditions {
		p.errorf(n, path, "has %d conditions, at most %d", count, MaxConditions)
	}
	*report = p.report
	if report.Len() != before || c == nil {
		return nil
	}
	return &Condition{c: c}
}

// Holds reports whether the condition holds for a message that came
// through connector with headers (names in any case, as in Message) and
// whose fields are the decoded JSON object fields (numbers as
// json.Number, as decoding with UseNumber gives them; other Go numbers
// compare as objects do: equal to nothing). The field conditions' paths
// start at fields; a nil fields has no fields.
func (c *Condition) Holds(connector string, headers map[string]string, fields map[string]any) bool {
	ev := evaluator{m: &Message{Connector: connector, Headers: headers}, parsed: true, payload: fields}
	ok, _ := ev.holds(c.c)
	return ok
}

// Path is a JSON path of the rules format, such as $.items[0].sku: see
// the package doc.
type Path struct {
	p path
}

// ParsePath reads a path, or says what is wrong with it (why is "" when
// it is good).
func ParsePath(text string) (p Path, why string) {
	q, why := parsePath(text)
	if why != "" {
		return Path{}, why
	}
	return Path{q}, ""
}

// String returns the path as written.
func (p Path) String() string { return p.p.text }

// Lookup returns the value at the path in root, a decoded JSON object,
// and whether it exists.
func (p Path) Lookup(root map[string]any) (any, bool) { return p.p.lookup(root) }
