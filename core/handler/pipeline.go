package handler

import (
	"fmt"
	"github.com/shoaldb/shoal/core/jsonvalue"
	"maps"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/route"
	"github.com/shoaldb/shoal/core/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// Pipeline is a parsed pipeline file: routing rules, chains and, when
// the file has them, connectors. It is immutable, and safe to share.
type Pipeline struct {
	// Routes are the file's routing rules. Every routing key they give
	// has a chain.
	Routes *route.Rules
	// Connectors is the file's connectors section; nil when it has none.
	// With one, every destination an outbound step names is among its
	// outbound destinations.
	Connectors *connector.Config

	chains map[string]*chain
	keys   []string // of chains, sorted
}

// chain is the steps of one routing key, in order.
type chain struct {
	key   string
	steps []*step
}

// step is one handler of a chain, with its parameters.
type step struct {
	name   string
	f      Func // nil: a handler this binary lacks (Options.AllowUnknown)
	params any  // the step's value as JSON-like data
	custom bool // f is a registered Go handler: its results are normalized
}

// Keys returns the routing keys that have chains, sorted.
func (p *Pipeline) Keys() []string { return slices.Clone(p.keys) }

// Chain returns the handler names of the chain of routing key key, in
// order; nil when key has no chain.
func (p *Pipeline) Chain(key string) []string {
	ch := p.chains[key]
	if ch == nil {
		return nil
	}
	out := make([]string, len(ch.steps))
	for i, s := range ch.steps {
		out[i] = s.name
	}
	return out
}

// Options changes what Parse accepts.
type Options struct {
	// AllowUnknown accepts handler names not registered in this binary
	// (an instance of another build may have them). Running a step of
	// one fails the message with a reason saying so. It accepts connector
	// types this binary lacks too (connector.Options.AllowUnknown).
	AllowUnknown bool
}

// Parse reads a pipeline file strictly. file names it in error messages.
// The error, when there is one, is a yamlcheck.ErrorList of every
// problem found, each reading "FILE:LINE: PATH: problem", sorted by line.
func Parse(file string, data []byte) (*Pipeline, error) {
	return ParseWith(file, data, Options{})
}

// ParseWith is Parse with options.
func ParseWith(file string, data []byte, o Options) (*Pipeline, error) {
	p := &parser{report: yamlcheck.Report{File: file}, opts: o}
	root := yamlcheck.Document(&p.report, data, "pipeline")
	if root == nil {
		return nil, p.report.Err()
	}
	pl := p.file(root)
	if err := p.report.Err(); err != nil {
		return nil, err
	}
	return pl, nil
}

var (
	topKeys      = []string{"routes", "chains", "connectors"}
	requiredKeys = []string{"routes", "chains"}
)

// parser collects the problems of one file while it walks its nodes.
type parser struct {
	report yamlcheck.Report
	opts   Options
	// sends are the outbound steps read, for the check against the
	// connectors section.
	sends []send
}

// send is one outbound step: the destination it names, and where.
type send struct {
	dest string
	path string
	line int
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

// entries are a mapping's entries in file order.
type entries []entry

// get returns the value of key, or nil.
func (es entries) get(key string) *yaml.Node {
	for _, e := range es {
		if e.key.Value == key {
			return e.val
		}
	}
	return nil
}

// mapping checks that n is a mapping with unique keys among allowed, and
// returns its entries in order. A null value is reported and left out,
// unless its key is among nullable.
func (p *parser) mapping(n *yaml.Node, path string, allowed []string, nullable ...string) (entries, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping, got %s", yamlcheck.Describe(n))
		return nil, false
	}
	var out entries
	for k, v := range yamlcheck.Pairs(&p.report, n, path, "a key must be a name") {
		if !slices.Contains(allowed, k.Value) {
			p.errorf(k, path, "unknown key %s%s", yamlcheck.Quote(k.Value), yamlcheck.Hint(k.Value, allowed))
			continue
		}
		if yamlcheck.IsNull(v) && !slices.Contains(nullable, k.Value) {
			p.errorf(k, path, "`%s` has no value: give it one or leave the key out", k.Value)
			continue
		}
		out = append(out, entry{k, v})
	}
	return out, true
}

// require reports each of keys that mapping n lacks.
func (p *parser) require(n *yaml.Node, path string, keys ...string) bool {
	ok := true
	for _, key := range keys {
		if !present(n, key) {
			p.errorf(n, path, "missing required key `%s`", key)
			ok = false
		}
	}
	return ok
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

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (p *parser) file(root *yaml.Node) *Pipeline {
	pl := &Pipeline{chains: map[string]*chain{}}
	es, ok := p.mapping(root, "", topKeys)
	if !ok {
		return pl
	}
	p.require(root, "", requiredKeys...)
	var routesNode *yaml.Node
	var declared map[string]bool
	for _, e := range es {
		switch e.key.Value {
		case "routes":
			routesNode = e.val
			pl.Routes = route.ParseNode(&p.report, e.val, "routes")
		case "chains":
			declared = p.chains(e.val, pl)
		case "connectors":
			pl.Connectors = connector.ParseNode(&p.report, e.val, "connectors", connector.Options{AllowUnknown: p.opts.AllowUnknown})
		}
	}
	if pl.Connectors != nil {
		p.checkSends(pl.Connectors)
	}
	if pl.Routes == nil || declared == nil {
		return pl
	}
	names := slices.Sorted(maps.Keys(declared))
	reported := map[string]bool{}
	for _, use := range route.KeyUses(routesNode, "routes") {
		if declared[use.Key] || reported[use.Key] {
			continue
		}
		reported[use.Key] = true
		who := "the default"
		if use.Rule != "" {
			who = "rule " + yamlcheck.Quote(use.Rule)
		}
		p.errorf(&yaml.Node{Line: use.Line}, use.Path, "%s gives routing key %s, which has no chain: add chains.%s%s",
			who, yamlcheck.Quote(use.Key), use.Key, yamlcheck.Hint(use.Key, names))
	}
	return pl
}

// checkSends reports each outbound step whose destination the connectors
// section lacks. Without a section any destination goes: its messages
// wait in their outbound queue.
func (p *parser) checkSends(c *connector.Config) {
	names := make([]string, len(c.Outbound))
	for i, out := range c.Outbound {
		names[i] = out.Name
	}
	for _, s := range p.sends {
		if c.Destination(s.dest) == nil {
			p.errorf(&yaml.Node{Line: s.line}, s.path, "sends to destination %s, which is not declared: add connectors.outbound.%s%s",
				yamlcheck.Quote(s.dest), s.dest, yamlcheck.Hint(s.dest, names))
		}
	}
}

// chains reads the chains mapping into pl, and returns the routing keys
// it names (those with a problem in their steps included, so that they
// are not reported as missing too); nil when it is no mapping.
func (p *parser) chains(n *yaml.Node, pl *Pipeline) map[string]bool {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "chains", "must be a mapping of routing keys to chains, got %s", yamlcheck.Describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, "chains", "must not be empty: give each routing key a chain")
		return nil
	}
	if len(n.Content)/2 > MaxChains {
		p.errorf(n, "chains", "has %d chains, at most %d", len(n.Content)/2, MaxChains)
		return nil
	}
	declared := map[string]bool{}
	for k, v := range yamlcheck.Pairs(&p.report, n, "chains", "a key must be a routing key") {
		if !route.ValidKey(k.Value) {
			p.errorf(k, "chains", "%s is not valid: %s", yamlcheck.Quote(k.Value), route.KeyRule)
			continue
		}
		declared[k.Value] = true
		path := join("chains", k.Value)
		if yamlcheck.IsNull(v) {
			p.errorf(k, path, "has no steps: a chain has 1..%d", MaxSteps)
			continue
		}
		items, why := yamlcheck.List(v, MaxSteps)
		if !p.check(v, path, why) {
			continue
		}
		if len(items) == 0 {
			p.errorf(v, path, "has no steps: a chain has 1..%d", MaxSteps)
			continue
		}
		before := p.report.Len()
		ch := &chain{key: k.Value}
		for i, item := range items {
			if s := p.step(item, fmt.Sprintf("%s[%d]", path, i)); s != nil {
				ch.steps = append(ch.steps, s)
			}
		}
		if p.report.Len() == before {
			pl.chains[ch.key] = ch
			pl.keys = append(pl.keys, ch.key)
		}
	}
	slices.Sort(pl.keys)
	return declared
}

const stepRule = "a step is a mapping of one handler name to its parameters, such as {set-type: Order}"

// step reads one step of a chain.
func (p *parser) step(n *yaml.Node, path string) *step {
	var nameNode, val *yaml.Node
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		nameNode = n
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		nameNode, val = n.Content[0], n.Content[1]
		if nameNode.Kind != yaml.ScalarNode {
			p.errorf(nameNode, path, "a handler name must be a string, got %s", yamlcheck.Describe(nameNode))
			return nil
		}
	case n.Kind == yaml.MappingNode && len(n.Content) > 2:
		var names []string
		for i := 0; i < len(n.Content); i += 2 {
			names = append(names, n.Content[i].Value)
		}
		p.errorf(n, path, "names %d handlers (%s): %s; write each as a step of its own", len(names), strings.Join(names, ", "), stepRule)
		return nil
	default:
		p.errorf(n, path, "%s, got %s", stepRule, yamlcheck.Describe(n))
		return nil
	}
	name := nameNode.Value
	if val != nil && yamlcheck.IsNull(val) {
		val = nil
	}
	at := join(path, name)
	reg := registry[name]
	if reg == nil {
		if len(name) > MaxNameLen || !handlerNamePattern.MatchString(name) {
			p.errorf(nameNode, path, "%s is not a handler name: %s", yamlcheck.Quote(name), handlerNameRule)
			return nil
		}
		if !p.opts.AllowUnknown {
			p.errorf(nameNode, path, "unknown handler %s%s", yamlcheck.Quote(name), yamlcheck.Hint(name, Registered()))
			return nil
		}
	}
	s := &step{name: name}
	if (reg == nil || !reg.builtin) && val != nil {
		// A built-in reads its parameters itself, and says what is wrong
		// with them in its own words.
		v, bad, badPath, why := fromYAML(val, at)
		if why != "" {
			p.errorf(bad, badPath, "%s", why)
			return nil
		}
		s.params = v
	}
	switch {
	case reg == nil:
	case reg.builtin:
		b := builtins[name]
		if val == nil {
			p.errorf(nameNode, at, "needs parameters: %s", b.usage)
			return nil
		}
		before := p.report.Len()
		if s.f = b.parse(p, val, at); s.f == nil || p.report.Len() != before {
			return nil
		}
	default:
		if reg.check != nil {
			if err := runCheck(name, reg.check, s.params); err != nil {
				where := val
				if where == nil {
					where = nameNode
				}
				p.errorf(where, at, "%v", err)
				return nil
			}
		}
		s.f, s.custom = reg.f, true
	}
	return s
}

// runCheck runs a registered handler's check on a copy of its params; a
// panic is its error.
func runCheck(name string, check func(any) error, params any) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the parameter check of handler %s panicked: %v", name, v)
		}
	}()
	return check(jsonvalue.Copy(params))
}
