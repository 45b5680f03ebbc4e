package route

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/yamlcheck"
	"go.yaml.in/yaml/v3"
)

var (
	topKeys  = []string{"default", "rules"}
	ruleKeys = []string{"name", "when", "keys", "stop"}
	condKeys = []string{"connector", "header", "field", "any", "not"}
	// operators in the order the package doc lists them.
	operators = []string{"eq", "ne", "in", "prefix", "suffix", "contains", "gt", "ge", "lt", "le", "exists"}
)

var (
	ruleNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	keyPattern      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	// headerPattern is an HTTP field name: RFC 9110's token.
	headerPattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

const (
	ruleNameRule = "a rule name is letters, digits and _ (at most 64), not starting with a digit"
	keyRule      = "a routing key is letters, digits, _ and - (at most 64), starting with a letter or _"
)

// Parse reads a rules file strictly. file names it in error messages. The
// error, when there is one, is a yamlcheck.ErrorList of every problem
// found, each reading "FILE:LINE: PATH: problem", sorted by line.
func Parse(file string, data []byte) (*Rules, error) {
	p := &parser{report: yamlcheck.Report{File: file}}
	root := yamlcheck.Document(&p.report, data, "routing rules")
	if root == nil {
		return nil, p.report.Err()
	}
	r := p.file(root)
	if err := p.report.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// parser collects the problems of one file while it walks its nodes.
type parser struct {
	report yamlcheck.Report
	prefix string // the path of the rules mapping in a larger file (ParseNode); "" for a rules file
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	p.report.Addf(n, path, format, args...)
}

// check reports why (from a yamlcheck reader) unless it is "".
func (p *parser) check(n *yaml.Node, path, why string) bool { return p.report.Check(n, path, why) }

// entry is one key and value of a mapping.
type entry struct {
	key, val *yaml.Node
}

// mapping checks that n is a mapping with unique keys among allowed, and
// returns its entries in order. A null value is reported and left out.
func (p *parser) mapping(n *yaml.Node, path string, allowed []string) ([]entry, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping, got %s", yamlcheck.Describe(n))
		return nil, false
	}
	var out []entry
	for k, v := range yamlcheck.Pairs(&p.report, n, path, "a key must be a name") {
		if !slices.Contains(allowed, k.Value) {
			p.errorf(k, path, "unknown key %s%s", yamlcheck.Quote(k.Value), yamlcheck.Hint(k.Value, allowed))
			continue
		}
		if yamlcheck.IsNull(v) {
			p.errorf(k, path, "`%s` has no value: give it one or leave the key out", k.Value)
			continue
		}
		out = append(out, entry{k, v})
	}
	return out, true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (p *parser) file(root *yaml.Node) *Rules {
	r := &Rules{}
	before := p.report.Len() // under ParseNode, the larger file's problems come first
	entries, ok := p.mapping(root, p.prefix, topKeys)
	if !ok {
		return r
	}
	var rulesNode *yaml.Node
	for _, e := range entries {
		switch e.key.Value {
		case "default":
			r.def, _ = p.name(e.val, join(p.prefix, "default"), keyPattern, keyRule)
		case "rules":
			rulesNode = e.val
		}
	}
	if rulesNode != nil {
		items, why := yamlcheck.List(rulesNode, MaxRules)
		if p.check(rulesNode, join(p.prefix, "rules"), why) {
			seen := map[string]*yaml.Node{}
			for i, item := range items {
				ru, ok := p.rule(item, fmt.Sprintf("%s[%d]", join(p.prefix, "rules"), i), seen)
				if ok {
					r.rules = append(r.rules, ru)
				}
			}
		}
	}
	if len(r.rules) == 0 && r.def == "" && p.report.Len() == before {
		what := "the file routes nothing"
		if p.prefix != "" {
			what = "routes nothing"
		}
		p.errorf(root, p.prefix, "%s: give it rules or a default", what)
	}
	return r
}

// name reads a string matching pattern; rule says what the pattern is.
func (p *parser) name(n *yaml.Node, path string, pattern *regexp.Regexp, rule string) (string, bool) {
	s, why := yamlcheck.Str(n)
	if !p.check(n, path, why) {
		return "", false
	}
	if len(s) > MaxNameLen || !pattern.MatchString(s) {
		p.errorf(n, path, "%s is not valid: %s", yamlcheck.Quote(s), rule)
		return "", false
	}
	return s, true
}

func (p *parser) rule(n *yaml.Node, path string, seen map[string]*yaml.Node) (rule, bool) {
	var ru rule
	entries, ok := p.mapping(n, path, ruleKeys)
	if !ok {
		return ru, false
	}
	before := p.report.Len()
	var hasName, hasKeys bool
	for _, e := range entries {
		at := join(path, e.key.Value)
		switch e.key.Value {
		case "name":
			hasName = true
			name, ok := p.name(e.val, at, ruleNamePattern, ruleNameRule)
			if !ok {
				continue
			}
			if first, dup := seen[name]; dup {
				p.errorf(e.val, at, "duplicate rule name %s (first at line %d)", yamlcheck.Quote(name), first.Line)
				continue
			}
			seen[name] = e.val
			ru.name = name
		case "when":
			count := 0
			ru.when = p.cond(e.val, at, 1, &count)
			if count > MaxConditions {
				p.errorf(e.val, at, "has %d conditions, at most %d", count, MaxConditions)
			}
		case "keys":
			hasKeys = true
			ru.keys = p.keys(e.val, at)
		case "stop":
			b, why := yamlcheck.Bool(e.val)
			if p.check(e.val, at, why) {
				ru.stop = b
			}
		}
	}
	if !hasName && !present(n, "name") {
		p.errorf(n, path, "missing required key `name`")
	}
	if !hasKeys && !present(n, "keys") {
		p.errorf(n, path, "missing required key `keys`")
	}
	return ru, p.report.Len() == before && hasName && hasKeys
}

// present reports whether mapping n has the key, whatever its value.
func present(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// keys reads a rule's routing keys: a list of 1..MaxKeys, or one key.
func (p *parser) keys(n *yaml.Node, path string) []string {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		var why string
		items, why = yamlcheck.List(n, MaxKeys)
		if !p.check(n, path, why) {
			return nil
		}
		if len(items) == 0 {
			p.errorf(n, path, "must not be empty: a rule assigns 1..%d keys", MaxKeys)
			return nil
		}
	}
	var out []string
	for i, item := range items {
		at := path
		if n.Kind == yaml.SequenceNode {
			at = fmt.Sprintf("%s[%d]", path, i)
		}
		k, ok := p.name(item, at, keyPattern, keyRule)
		if !ok {
			continue
		}
		if slices.Contains(out, k) {
			p.errorf(item, path, "lists %s twice", yamlcheck.Quote(k))
			continue
		}
		out = append(out, k)
	}
	return out
}

// cond reads a condition mapping at the given depth, adding the number
// of its conditions to count.
func (p *parser) cond(n *yaml.Node, path string, depth int, count *int) *cond {
	if depth > MaxDepth {
		p.errorf(n, path, "conditions nest %d deep, at most %d", depth, MaxDepth)
		return nil
	}
	entries, ok := p.mapping(n, path, condKeys)
	if !ok {
		return nil
	}
	if len(entries) == 0 && len(n.Content) == 0 {
		p.errorf(n, path, "has no conditions: give it one of %s", strings.Join(condKeys, ", "))
		return nil
	}
	c := &cond{}
	for _, e := range entries {
		at := join(path, e.key.Value)
		switch e.key.Value {
		case "connector":
			*count++
			c.connectors = p.texts(e.val, at)
		case "header":
			c.headers = p.headers(e.val, at, count)
		case "field":
			c.fields = p.fields(e.val, at, count)
		case "any":
			*count++
			items, why := yamlcheck.List(e.val, MaxConditions)
			if !p.check(e.val, at, why) {
				continue
			}
			if len(items) == 0 {
				p.errorf(e.val, at, "must not be empty: give it the alternatives")
				continue
			}
			c.any = make([]*cond, 0, len(items))
			for i, item := range items {
				c.any = append(c.any, p.cond(item, fmt.Sprintf("%s[%d]", at, i), depth+1, count))
			}
		case "not":
			*count++
			c.not = p.cond(e.val, at, depth+1, count)
		}
	}
	return c
}

// texts reads a value compared as text, or a list of 1..MaxValues of
// them: any scalar but null, taken as written.
func (p *parser) texts(n *yaml.Node, path string) []string {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		var why string
		items, why = yamlcheck.List(n, MaxValues)
		if !p.check(n, path, why) {
			return nil
		}
		if len(items) == 0 {
			p.errorf(n, path, "must not be empty")
			return nil
		}
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		at := path
		if n.Kind == yaml.SequenceNode {
			at = fmt.Sprintf("%s[%d]", path, i)
		}
		if item.Kind != yaml.ScalarNode || yamlcheck.IsNull(item) {
			p.errorf(item, at, "must be a string, got %s", yamlcheck.Describe(item))
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

func (p *parser) headers(n *yaml.Node, path string, count *int) []headerCond {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping of header names to values, got %s", yamlcheck.Describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, path, "must not be empty: name a header")
		return nil
	}
	var out []headerCond
	seen := map[string]*yaml.Node{}
	for k, v := range yamlcheck.Pairs(&p.report, n, path, "a key must be a header name") {
		*count++
		at := join(path, k.Value)
		if !headerPattern.MatchString(k.Value) {
			p.errorf(k, path, "%s is not a header name", yamlcheck.Quote(k.Value))
			continue
		}
		lower := strings.ToLower(k.Value)
		if first, dup := seen[lower]; dup {
			p.errorf(k, path, "header %s is named twice, ignoring case (first at line %d)", yamlcheck.Quote(k.Value), first.Line)
			continue
		}
		seen[lower] = k
		if yamlcheck.IsNull(v) {
			p.errorf(k, at, "has no value: give it one or leave the header out")
			continue
		}
		out = append(out, headerCond{name: lower, values: p.texts(v, at)})
	}
	return out
}

func (p *parser) fields(n *yaml.Node, path string, count *int) []fieldCond {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping of JSON paths to conditions, got %s", yamlcheck.Describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, path, "must not be empty: name a JSON path")
		return nil
	}
	var out []fieldCond
	for k, v := range yamlcheck.Pairs(&p.report, n, path, "a key must be a JSON path") {
		at := join(path, k.Value)
		fp, why := parsePath(k.Value)
		if why != "" {
			hint := ""
			if !strings.HasPrefix(k.Value, "$") {
				if q, ok := parsePath("$." + k.Value); ok == "" {
					hint = " (did you mean " + q.text + "?)"
				}
			}
			p.errorf(k, path, "invalid path %s: %s%s", yamlcheck.Quote(k.Value), why, hint)
			continue
		}
		fc := fieldCond{path: fp}
		switch v.Kind {
		case yaml.MappingNode:
			if len(v.Content) == 0 {
				p.errorf(v, at, "must not be empty: give it an operator (%s)", strings.Join(operators, ", "))
				continue
			}
			for op, operand := range yamlcheck.Pairs(&p.report, v, at, "a key must be an operator") {
				*count++
				if !slices.Contains(operators, op.Value) {
					p.errorf(op, at, "unknown operator %s%s", yamlcheck.Quote(op.Value), yamlcheck.Hint(op.Value, operators))
					continue
				}
				if c, ok := p.check1(op.Value, operand, join(at, op.Value)); ok {
					fc.checks = append(fc.checks, c)
				}
			}
		case yaml.SequenceNode:
			*count++
			p.errorf(v, at, "must be a value or a mapping of operators, got a list (write {in: [...]} for one of several values)")
		default:
			*count++
			if c, ok := p.check1("eq", v, at); ok {
				fc.checks = append(fc.checks, c)
			}
		}
		out = append(out, fc)
	}
	return out
}

// check1 reads one operator's operand.
func (p *parser) check1(op string, n *yaml.Node, path string) (check, bool) {
	c := check{op: op}
	switch op {
	case "eq", "ne":
		s, ok := p.scalar(n, path)
		c.operand = s
		return c, ok
	case "in":
		items, why := yamlcheck.List(n, MaxValues)
		if !p.check(n, path, why) {
			return c, false
		}
		if len(items) == 0 {
			p.errorf(n, path, "must not be empty")
			return c, false
		}
		ok := true
		for i, item := range items {
			s, good := p.scalar(item, fmt.Sprintf("%s[%d]", path, i))
			ok = ok && good
			c.values = append(c.values, s)
		}
		return c, ok
	case "prefix", "suffix":
		s, why := yamlcheck.Str(n)
		c.operand = scalar{kind: kindString, s: s}
		return c, p.check(n, path, why)
	case "contains":
		s, ok := p.scalar(n, path)
		c.operand = s
		return c, ok
	case "gt", "ge", "lt", "le":
		s, ok := p.scalar(n, path)
		if ok && s.kind != kindNumber && s.kind != kindString {
			p.errorf(n, path, "must be a number or a string, got %s", yamlcheck.Describe(n))
			return c, false
		}
		c.operand = s
		return c, ok
	case "exists":
		b, why := yamlcheck.Bool(n)
		c.exists = b
		return c, p.check(n, path, why)
	}
	panic("route: operator without an operand reader: " + op)
}

// scalar reads a JSON scalar operand.
func (p *parser) scalar(n *yaml.Node, path string) (scalar, bool) {
	const want = "must be a string, number, true, false or null, got %s"
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, path, want, yamlcheck.Describe(n))
		return scalar{}, false
	}
	switch n.ShortTag() {
	case "!!null":
		return scalar{kind: kindNull}, true
	case "!!bool":
		b, why := yamlcheck.Bool(n)
		return scalar{kind: kindBool, b: b}, p.check(n, path, why)
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			p.errorf(n, path, "must be a finite number, got %s", yamlcheck.Describe(n))
			return scalar{}, false
		}
		return scalar{kind: kindNumber, n: f}, true
	case "!!str", "!!timestamp":
		return scalar{kind: kindString, s: n.Value}, true
	}
	p.errorf(n, path, want, yamlcheck.Describe(n))
	return scalar{}, false
}
