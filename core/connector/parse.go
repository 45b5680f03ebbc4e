package connector

import (
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/route"
	"github.com/shoaldb/shoal/core/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// Options changes what ParseNode accepts.
type Options struct {
	// AllowUnknown accepts types this binary lacks (an instance of another
	// build may have them): their Spec is nil, and their parameters are
	// not checked beyond being a mapping (an outbound destination's
	// delivery keys still are: they are the engine's).
	AllowUnknown bool
}

var (
	sectionKeys  = []string{"inbound", "outbound"}
	deliveryKeys = []string{"max_attempts", "backoff_min", "backoff_max", "timeout", "batch", "in_flight"}
)

// ValidName reports whether s may name a connector or a destination:
// the rule of a routing key (route.ValidKey), which is also what an
// outbound step may name.
func ValidName(s string) bool { return len(s) <= MaxNameLen && route.ValidKey(s) }

const (
	connectorNameRule   = "a connector name is letters, digits, _ and - (at most 64), starting with a letter or _"
	destinationNameRule = "a destination is letters, digits, _ and - (at most 64), starting with a letter or _"
)

// ParseNode reads a connectors section that is part of a larger file
// (a pipeline's connectors): n is its node, and path its path in that
// file ("connectors"), which prefixes the path of every problem reported
// to report. It returns nil when it reported a problem.
func ParseNode(report *yamlcheck.Report, n *yaml.Node, path string, o Options) *Config {
	// The parser reports to the caller's report: it takes it over while
	// it reads, and hands it back.
	p := &parser{report: *report, opts: o}
	before := p.report.Len()
	c := p.section(n, path)
	*report = p.report
	if report.Len() != before {
		return nil
	}
	return c
}

// parser collects the problems of one section while it walks its nodes.
type parser struct {
	report yamlcheck.Report
	opts   Options
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	p.report.Addf(n, path, format, args...)
}

func (p *parser) section(n *yaml.Node, path string) *Config {
	c := &Config{}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping of inbound and outbound, got %s", yamlcheck.Describe(n))
		return c
	}
	for k, v := range yamlcheck.Pairs(&p.report, n, path, "a key must be a name") {
		at := path + "." + k.Value
		switch {
		case !slices.Contains(sectionKeys, k.Value):
			p.errorf(k, path, "unknown key %s%s", yamlcheck.Quote(k.Value), yamlcheck.Hint(k.Value, sectionKeys))
		case yamlcheck.IsNull(v):
			p.errorf(k, path, "`%s` has no value: give it one or leave the key out", k.Value)
		case k.Value == "inbound":
			for name, entry := range p.entries(v, at, "connectors", connectorNameRule) {
				if in := p.inbound(name, entry, at+"."+name.Value); in != nil {
					c.Inbound = append(c.Inbound, in)
				}
			}
		case k.Value == "outbound":
			for name, entry := range p.entries(v, at, "destinations", destinationNameRule) {
				if out := p.outbound(name, entry, at+"."+name.Value); out != nil {
					c.Outbound = append(c.Outbound, out)
				}
			}
		}
	}
	slices.SortFunc(c.Inbound, func(a, b *Inbound) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.Outbound, func(a, b *Outbound) int { return strings.Compare(a.Name, b.Name) })
	if count := len(slices.DeleteFunc(slices.Clone(c.Outbound), func(o *Outbound) bool { return o.Type != ReplicationType })); count > kv.MaxReplicate {
		p.errorf(n, path+".outbound", "has %d destinations of type %s, at most %d: a write carries the list of those it goes to", count, ReplicationType, kv.MaxReplicate)
	}
	return c
}

// entries yields the names and entries of the inbound or outbound
// mapping n whose names are valid (the others reported).
func (p *parser) entries(n *yaml.Node, path, what, rule string) func(yield func(name, entry *yaml.Node) bool) {
	return func(yield func(name, entry *yaml.Node) bool) {
		if n.Kind != yaml.MappingNode {
			p.errorf(n, path, "must be a mapping of names to %s, got %s", what, yamlcheck.Describe(n))
			return
		}
		if len(n.Content)/2 > MaxConnectors {
			p.errorf(n, path, "has %d %s, at most %d", len(n.Content)/2, what, MaxConnectors)
			return
		}
		for k, v := range yamlcheck.Pairs(&p.report, n, path, "a key must be a name") {
			if !ValidName(k.Value) {
				p.errorf(k, path, "%s is not valid: %s", yamlcheck.Quote(k.Value), rule)
				continue
			}
			if !yield(k, v) {
				return
			}
		}
	}
}

// entryType checks that an entry is a mapping with a valid type, and
// returns its Params (with type asked for) and its type; nil when it
// reported a problem that leaves nothing to read.
func (p *parser) entryType(name, n *yaml.Node, path, example string, common []string) (*Params, string) {
	if yamlcheck.IsNull(n) {
		p.errorf(name, path, "has no settings: give it a type, such as {type: %s}", example)
		return nil, ""
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping of a type and its settings, got %s", yamlcheck.Describe(n))
		return nil, ""
	}
	params := newParams(&p.report, n, path, name.Value, append([]string{"type"}, common...))
	typ := params.String("type", true)
	if typ != "" && !validType(typ) {
		params.Errorf("type", "%s is not valid: %s", yamlcheck.Quote(typ), typeNameRule)
		typ = ""
	}
	return params, typ
}

func (p *parser) inbound(name, n *yaml.Node, path string) *Inbound {
	params, typ := p.entryType(name, n, path, "http", nil)
	if params == nil {
		return nil
	}
	in := &Inbound{Name: name.Value, Type: typ, Line: name.Line}
	if typ == "" {
		return nil // its other keys mean nothing without a type
	}
	reg := registry.inbound[typ]
	switch {
	case reg != nil:
		in.Spec = runParse(params, "inbound", typ, reg.parse)
		params.unknown()
	case p.opts.AllowUnknown:
	default:
		params.Errorf("type", "unknown inbound type %s%s", yamlcheck.Quote(typ), yamlcheck.Hint(typ, InboundTypes()))
	}
	return in
}

func (p *parser) outbound(name, n *yaml.Node, path string) *Outbound {
	params, typ := p.entryType(name, n, path, "webhook", deliveryKeys)
	if params == nil {
		return nil
	}
	out := &Outbound{Name: name.Value, Type: typ, Line: name.Line, Delivery: delivery(params)}
	if typ == "" {
		return nil // its other keys mean nothing without a type
	}
	reg := registry.outbound[typ]
	switch {
	case reg != nil:
		out.Spec = runParse(params, "outbound", typ, reg.parse)
		params.unknown()
	case p.opts.AllowUnknown:
	default:
		params.Errorf("type", "unknown outbound type %s%s", yamlcheck.Quote(typ), yamlcheck.Hint(typ, OutboundTypes()))
	}
	return out
}

// delivery reads an outbound destination's delivery keys.
func delivery(p *Params) Delivery {
	d := DefaultDelivery
	d.MaxAttempts = p.Int("max_attempts", 1, 1000, d.MaxAttempts)
	d.BackoffMin = p.Duration("backoff_min", time.Millisecond, time.Hour, d.BackoffMin)
	d.BackoffMax = p.Duration("backoff_max", time.Millisecond, 24*time.Hour, d.BackoffMax)
	d.Timeout = p.Duration("timeout", time.Millisecond, 10*time.Minute, d.Timeout)
	d.Batch = p.Int("batch", 1, 1024, d.Batch)
	d.InFlight = p.Int("in_flight", 1, 64, d.InFlight)
	if d.BackoffMax < d.BackoffMin {
		if p.has("backoff_max") {
			p.Errorf("backoff_max", "must be at least backoff_min (%s), got %s", yamlcheck.ShortDuration(d.BackoffMin), yamlcheck.ShortDuration(d.BackoffMax))
		} else {
			p.Errorf("backoff_min", "must be at most backoff_max (%s, its default), got %s", yamlcheck.ShortDuration(d.BackoffMax), yamlcheck.ShortDuration(d.BackoffMin))
		}
	}
	return d
}

// runParse runs a type's parse function; a panic is reported at the
// entry as its problem.
func runParse[S any](params *Params, dir, typ string, parse func(*Params) S) (spec S) {
	before := params.report.Len()
	defer func() {
		params.inType = false
		if v := recover(); v != nil {
			params.Errorf("", "the parse function of %s type %s panicked: %v", dir, typ, v)
			var zero S
			spec = zero
		}
	}()
	params.inType = true
	spec = parse(params)
	if isNil(spec) {
		if params.report.Len() == before {
			params.Errorf("", "the parse function of %s type %s returned no spec and reported no problem", dir, typ)
		}
		var zero S
		spec = zero
	}
	return spec
}

// isNil reports whether a spec is nil, or holds a nil pointer.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
