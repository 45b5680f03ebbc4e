package handler

import (
	"encoding/json"
	"fmt"
	"github.com/shoaldb/shoal/core/jsonvalue"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/route"
	"github.com/shoaldb/shoal/core/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// builtin is a handler of this package: it reads its parameters from
// YAML when the file is parsed (so a problem names its line) and returns
// the Func that runs them.
type builtin struct {
	usage string // what its parameters look like, for messages
	parse func(p *parser, n *yaml.Node, path string) Func
}

// builtins are the handlers of the package doc, by name.
var builtins = map[string]builtin{
	"set-type": {"set-type: Order, or set-type: {type: Order, version: 1}", parseSetType},
	"rename":   {"rename: {old: new, a.b: c}", parseRename},
	"drop":     {"drop: [debug, meta.trace], or drop: debug", parseDrop},
	"map":      {"map: {field: $.path, field: {header: X-Name}, field: {const: value}, field: {message: id}}", parseMap},
	"filter":   {"filter: {when: {field: {$.status: paid}}}", parseFilter},
	"split":    {"split: {field: lines, keep: [customer_id]}", parseSplit},
	"enrich":   {"enrich: {type: Customer, key: {id: $.customer_id}, into: customer}", parseEnrich},
	"outbound": {"outbound: billing, or outbound: {destination: billing}", parseOutbound},
}

func init() {
	for _, name := range slices.Sorted(maps.Keys(builtins)) {
		registry[name] = &registered{builtin: true}
	}
}

// MaxEntries bounds the entries of one step's mapping or list: rename,
// drop, map, split's keep, enrich's key and fields.
const MaxEntries = 256

var (
	typeNamePattern = regexp.MustCompile(`^[A-Z][A-Za-z0-9_]*$`)
	keyFieldPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

const (
	typeNameRule    = "a type name is letters, digits and _ (at most 64), starting with an upper-case letter"
	keyFieldRule    = "a field name is letters, digits and _ (at most 64), not starting with a digit"
	destinationRule = "a destination is letters, digits, _ and - (at most 64), starting with a letter or _"
	// maxVersion is core/model's limit on the versions of a type.
	maxVersion = 64
)

// validType reports whether s is a valid type name.
func validType(s string) bool { return len(s) <= MaxNameLen && typeNamePattern.MatchString(s) }

// name reads a string matching valid; rule says what valid accepts.
func (p *parser) name(n *yaml.Node, path string, valid func(string) bool, rule string) string {
	s, why := yamlcheck.Str(n)
	if !p.check(n, path, why) {
		return ""
	}
	if !valid(s) {
		p.errorf(n, path, "%s is not valid: %s", yamlcheck.Quote(s), rule)
		return ""
	}
	return s
}

// field reads a dotted field path.
func (p *parser) field(n *yaml.Node, path string) field {
	s, why := yamlcheck.Str(n)
	if !p.check(n, path, why) {
		return field{}
	}
	f, why := parseField(s)
	if why != "" {
		p.errorf(n, path, "invalid field %s: %s", yamlcheck.Quote(s), why)
	}
	return f
}

// fieldList reads one field, or a list of 1..MaxEntries of them.
func (p *parser) fieldList(n *yaml.Node, path string) []field {
	if n.Kind != yaml.SequenceNode {
		return []field{p.field(n, path)}
	}
	items, why := yamlcheck.List(n, MaxEntries)
	if !p.check(n, path, why) {
		return nil
	}
	if len(items) == 0 {
		p.errorf(n, path, "must not be empty: name a field")
		return nil
	}
	var out []field
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", path, i)
		f := p.field(item, at)
		if f.text != "" && slices.ContainsFunc(out, func(g field) bool { return g.text == f.text }) {
			p.errorf(item, at, "lists %s twice", yamlcheck.Quote(f.text))
		}
		out = append(out, f)
	}
	return out
}

// pairs checks that n is a non-empty mapping of at most MaxEntries
// entries (what says what of) and yields them.
func (p *parser) pairs(n *yaml.Node, path, what string) func(func(k, v *yaml.Node) bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping of %s, got %s", what, yamlcheck.Describe(n))
		return func(func(k, v *yaml.Node) bool) {}
	}
	if len(n.Content) == 0 {
		p.errorf(n, path, "must not be empty: give it %s", what)
		return func(func(k, v *yaml.Node) bool) {}
	}
	if len(n.Content)/2 > MaxEntries {
		p.errorf(n, path, "has %d entries, at most %d", len(n.Content)/2, MaxEntries)
		return func(func(k, v *yaml.Node) bool) {}
	}
	return yamlcheck.Pairs(&p.report, n, path, "a key must be a field")
}

// one returns a Func's single result: the message it was given.
func one(m *Message) []*Message { return []*Message{m} }

// set-type

func parseSetType(p *parser, n *yaml.Node, path string) Func {
	typ, version := "", 0
	if n.Kind == yaml.MappingNode {
		es, ok := p.mapping(n, path, []string{"type", "version"})
		if !ok || !p.require(n, path, "type") {
			return nil
		}
		for _, e := range es {
			at := join(path, e.key.Value)
			switch e.key.Value {
			case "type":
				typ = p.name(e.val, at, validType, typeNameRule)
			case "version":
				v, why := yamlcheck.Int(e.val, 1, maxVersion)
				if p.check(e.val, at, why) {
					version = v
				}
			}
		}
	} else {
		typ = p.name(n, path, validType, typeNameRule)
	}
	return func(c *Context, m *Message) ([]*Message, error) {
		m.Type, m.Version = typ, version
		return one(m), nil
	}
}

// rename

type move struct {
	from, to field
}

func parseRename(p *parser, n *yaml.Node, path string) Func {
	var moves []move
	for k, v := range p.pairs(n, path, "old fields to new ones") {
		at := join(path, k.Value)
		from, why := parseField(k.Value)
		if why != "" {
			p.errorf(k, path, "invalid field %s: %s", yamlcheck.Quote(k.Value), why)
			continue
		}
		to := p.field(v, at)
		if to.text == "" {
			continue
		}
		if to.within(from) || from.within(to) {
			p.errorf(v, at, "cannot rename %s to %s: one is inside the other", from.text, to.text)
			continue
		}
		moves = append(moves, move{from, to})
	}
	return func(c *Context, m *Message) ([]*Message, error) {
		for _, mv := range moves {
			if _, ok := mv.from.get(m.Fields); !ok {
				continue
			}
			if _, exists := mv.to.get(m.Fields); exists {
				return nil, fmt.Errorf("cannot rename %s to %s: %s already exists (drop it first)", mv.from.text, mv.to.text, mv.to.text)
			}
			v, _ := mv.from.remove(m.Fields)
			if err := mv.to.set(m.Fields, v); err != nil {
				return nil, fmt.Errorf("cannot rename %s to %s: %v", mv.from.text, mv.to.text, err)
			}
		}
		return one(m), nil
	}
}

// drop

func parseDrop(p *parser, n *yaml.Node, path string) Func {
	fields := p.fieldList(n, path)
	return func(c *Context, m *Message) ([]*Message, error) {
		for _, f := range fields {
			f.remove(m.Fields)
		}
		return one(m), nil
	}
}

// map

// source is where a map entry (or an enrich key) takes its value from.
type source struct {
	text    string // as written, for messages
	whole   bool   // $: the message's fields
	path    *route.Path
	header  string // canonical
	isConst bool
	value   any    // const
	message string // id, connector or key
	hasDef  bool
	def     any
}

var (
	sourceKeys   = []string{"path", "header", "const", "message", "default"}
	messageParts = []string{"id", "connector", "key"}
	headerName   = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

const sourceRule = "a source is a path ($.name, or $ for all the fields) or a mapping of one of path, header, const and message"

// source reads a map entry's or an enrich key's source.
func (p *parser) source(n *yaml.Node, path string) *source {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		return p.pathSource(n, path, n.Value)
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "%s, got %s", sourceRule, yamlcheck.Describe(n))
		return nil
	}
	es, ok := p.mapping(n, path, sourceKeys, "const", "default")
	if !ok {
		return nil
	}
	var kinds []string
	for _, e := range es {
		if e.key.Value != "default" {
			kinds = append(kinds, e.key.Value)
		}
	}
	if len(kinds) != 1 {
		if len(kinds) == 0 {
			p.errorf(n, path, "names no source: give it one of path, header, const and message")
		} else {
			p.errorf(n, path, "names %d sources (%s): give it one of path, header, const and message", len(kinds), strings.Join(kinds, ", "))
		}
		return nil
	}
	var s *source
	val := es.get(kinds[0])
	at := join(path, kinds[0])
	switch kinds[0] {
	case "path":
		str, why := yamlcheck.Str(val)
		if !p.check(val, at, why) {
			return nil
		}
		s = p.pathSource(val, at, str)
	case "header":
		h, why := yamlcheck.Str(val)
		if !p.check(val, at, why) {
			return nil
		}
		if !headerName.MatchString(h) {
			p.errorf(val, at, "%s is not a header name", yamlcheck.Quote(h))
			return nil
		}
		s = &source{text: "header " + canonicalHeader(h), header: canonicalHeader(h)}
	case "const":
		v, bad, badPath, why := fromYAML(val, at)
		if why != "" {
			p.errorf(bad, badPath, "%s", why)
			return nil
		}
		s = &source{text: "const", isConst: true, value: v}
	case "message":
		part := p.name(val, at, func(s string) bool { return slices.Contains(messageParts, s) }, "one of "+strings.Join(messageParts, ", "))
		if part == "" {
			return nil
		}
		s = &source{text: "message " + part, message: part}
	}
	if s == nil {
		return nil
	}
	if def := es.get("default"); def != nil {
		if s.path == nil && s.header == "" {
			p.errorf(def, join(path, "default"), "only a path or a header may have a default")
			return nil
		}
		v, bad, badPath, why := fromYAML(def, join(path, "default"))
		if why != "" {
			p.errorf(bad, badPath, "%s", why)
			return nil
		}
		s.hasDef, s.def = true, v
	}
	return s
}

// pathSource reads a source written as a path.
func (p *parser) pathSource(n *yaml.Node, path, text string) *source {
	if text == "$" {
		return &source{text: "$", whole: true}
	}
	rp, why := route.ParsePath(text)
	if why != "" {
		hint := ""
		if !strings.HasPrefix(text, "$") {
			if _, bad := route.ParsePath("$." + text); bad == "" {
				hint = " (did you mean $." + text + "?)"
			}
			p.errorf(n, path, "%s is no source: %s%s", yamlcheck.Quote(text), sourceRule, hint)
			return nil
		}
		p.errorf(n, path, "invalid path %s: %s", yamlcheck.Quote(text), why)
		return nil
	}
	return &source{text: text, path: &rp}
}

// get returns a copy of the source's value for m.
func (s *source) get(c *Context, m *Message) (any, error) {
	var v any
	switch {
	case s.whole:
		v = m.Fields
	case s.path != nil:
		var ok bool
		if v, ok = s.path.Lookup(m.Fields); !ok {
			if !s.hasDef {
				return nil, fmt.Errorf("%s is missing", s.text)
			}
			v = s.def
		}
	case s.header != "":
		h, ok := m.Headers[s.header]
		if !ok {
			if !s.hasDef {
				return nil, fmt.Errorf("%s is missing", s.text)
			}
			return c.run.copy(s.def)
		}
		return h, nil
	case s.isConst:
		v = s.value
	case s.message == "id":
		return m.ID, nil
	case s.message == "connector":
		return m.Connector, nil
	case s.message == "key":
		return m.Key, nil
	}
	return c.run.copy(v)
}

// assign is one entry of a map step.
type assign struct {
	to   field
	from *source
}

func parseMap(p *parser, n *yaml.Node, path string) Func {
	var as []assign
	for k, v := range p.pairs(n, path, "fields to sources") {
		to, why := parseField(k.Value)
		if why != "" {
			p.errorf(k, path, "invalid field %s: %s", yamlcheck.Quote(k.Value), why)
			continue
		}
		if from := p.source(v, join(path, k.Value)); from != nil {
			as = append(as, assign{to, from})
		}
	}
	return func(c *Context, m *Message) ([]*Message, error) {
		for _, a := range as {
			v, err := a.from.get(c, m)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", a.to.text, err)
			}
			if err := a.to.set(m.Fields, v); err != nil {
				return nil, err
			}
		}
		return one(m), nil
	}
}

// filter

func parseFilter(p *parser, n *yaml.Node, path string) Func {
	es, ok := p.mapping(n, path, []string{"when"})
	if !ok || !p.require(n, path, "when") {
		return nil
	}
	when := es.get("when")
	if when == nil {
		return nil
	}
	cond := route.ParseCondition(&p.report, when, join(path, "when"))
	return func(c *Context, m *Message) ([]*Message, error) {
		if cond.Holds(m.Connector, m.Headers, m.Fields) {
			return one(m), nil
		}
		return nil, nil
	}
}

// split

// keep is a field a split copies from the message into each element.
type keep struct {
	from, to field
}

func parseSplit(p *parser, n *yaml.Node, path string) Func {
	es, ok := p.mapping(n, path, []string{"field", "keep"})
	if !ok || !p.require(n, path, "field") {
		return nil
	}
	var list field
	var keeps []keep
	for _, e := range es {
		at := join(path, e.key.Value)
		switch e.key.Value {
		case "field":
			list = p.field(e.val, at)
		case "keep":
			if e.val.Kind == yaml.MappingNode {
				for k, v := range p.pairs(e.val, at, "element fields to message fields") {
					to, why := parseField(k.Value)
					if why != "" {
						p.errorf(k, at, "invalid field %s: %s", yamlcheck.Quote(k.Value), why)
						continue
					}
					keeps = append(keeps, keep{from: p.field(v, join(at, k.Value)), to: to})
				}
			} else {
				for _, f := range p.fieldList(e.val, at) {
					keeps = append(keeps, keep{from: f, to: f})
				}
			}
		}
	}
	if list.text != "" {
		for _, k := range keeps {
			if k.from.text != "" && (k.from.within(list) || list.within(k.from)) {
				p.errorf(es.get("keep"), join(path, "keep"), "cannot keep %s: it overlaps %s, the field split", k.from.text, list.text)
			}
		}
	}
	return func(c *Context, m *Message) ([]*Message, error) {
		v, ok := list.get(m.Fields)
		if !ok {
			return nil, fmt.Errorf("%s is missing", list.text)
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s is %s, not an array", list.text, jsonvalue.Kind(v))
		}
		if err := c.run.more(len(arr) - 1); err != nil {
			return nil, err
		}
		kept := make([]any, len(keeps))
		for i, k := range keeps {
			if kept[i], ok = k.from.get(m.Fields); !ok {
				return nil, fmt.Errorf("cannot keep %s: it is missing", k.from.text)
			}
		}
		out := make([]*Message, 0, len(arr))
		for i, e := range arr {
			obj, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s[%d] is %s, not an object", list.text, i, jsonvalue.Kind(e))
			}
			for j, k := range keeps {
				if _, exists := k.to.get(obj); exists {
					return nil, fmt.Errorf("cannot keep %s: %s[%d] already has %s", k.from.text, list.text, i, k.to.text)
				}
				cv, err := c.run.copy(kept[j])
				if err != nil {
					return nil, err
				}
				if err := k.to.set(obj, cv); err != nil {
					return nil, fmt.Errorf("%s[%d]: %v", list.text, i, err)
				}
			}
			out = append(out, &Message{
				ID: m.ID, Connector: m.Connector, Key: m.Key, Headers: maps.Clone(m.Headers),
				Type: m.Type, Version: m.Version, Fields: obj, sent: m.sent,
			})
		}
		return out, nil
	}
}

// enrich

var missingModes = []string{"fail", "skip", "null"}

// keySource is one key field of an enrich lookup.
type keySource struct {
	name string
	from *source
}

func parseEnrich(p *parser, n *yaml.Node, path string) Func {
	// missing: null is YAML's null, which means the mode null here.
	es, ok := p.mapping(n, path, []string{"type", "key", "into", "fields", "missing"}, "missing")
	if !ok || !p.require(n, path, "type", "key", "into") {
		return nil
	}
	var typ, missing string
	var into field
	var key []keySource
	var fields []string
	missing = "fail"
	for _, e := range es {
		at := join(path, e.key.Value)
		switch e.key.Value {
		case "type":
			typ = p.name(e.val, at, validType, typeNameRule)
		case "key":
			for k, v := range p.pairs(e.val, at, "key fields to sources") {
				if len(k.Value) > MaxNameLen || !keyFieldPattern.MatchString(k.Value) {
					p.errorf(k, at, "%s is not valid: %s", yamlcheck.Quote(k.Value), keyFieldRule)
					continue
				}
				if from := p.source(v, join(at, k.Value)); from != nil {
					key = append(key, keySource{k.Value, from})
				}
			}
		case "into":
			into = p.field(e.val, at)
		case "fields":
			items, why := yamlcheck.List(e.val, MaxEntries)
			if !p.check(e.val, at, why) {
				continue
			}
			if len(items) == 0 {
				p.errorf(e.val, at, "must not be empty: leave it out to take every field")
				continue
			}
			fields = []string{}
			for i, item := range items {
				ia := fmt.Sprintf("%s[%d]", at, i)
				f := p.name(item, ia, func(s string) bool { return len(s) <= MaxNameLen && keyFieldPattern.MatchString(s) }, keyFieldRule)
				if f != "" && slices.Contains(fields, f) {
					p.errorf(item, ia, "lists %s twice", yamlcheck.Quote(f))
				}
				fields = append(fields, f)
			}
		case "missing":
			if yamlcheck.IsNull(e.val) {
				missing = "null"
				continue
			}
			missing = p.name(e.val, at, func(s string) bool { return slices.Contains(missingModes, s) }, "one of "+strings.Join(missingModes, ", "))
		}
	}
	return func(c *Context, m *Message) ([]*Message, error) {
		k := make(map[string]any, len(key))
		for _, ks := range key {
			v, err := ks.from.get(c, m)
			if err != nil {
				return nil, fmt.Errorf("key %s: %v", ks.name, err)
			}
			k[ks.name] = v
		}
		kj, err := encode(k)
		if err != nil {
			return nil, fmt.Errorf("key: %v", err)
		}
		obj, found, err := c.Lookup(typ, k)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", typ, kj, err)
		}
		if !found {
			switch missing {
			case "skip":
				return one(m), nil
			case "null":
				if err := into.set(m.Fields, nil); err != nil {
					return nil, err
				}
				return one(m), nil
			}
			return nil, fmt.Errorf("%s %s not found", typ, kj)
		}
		if fields != nil {
			picked := make(map[string]any, len(fields))
			for _, f := range fields {
				if v, ok := obj[f]; ok {
					picked[f] = v
				}
			}
			obj = picked
		}
		if err := c.run.charge(obj); err != nil {
			return nil, err
		}
		if err := into.set(m.Fields, obj); err != nil {
			return nil, err
		}
		return one(m), nil
	}
}

// outbound

func parseOutbound(p *parser, n *yaml.Node, path string) Func {
	at := path
	var order *route.Path
	if n.Kind == yaml.MappingNode {
		es, ok := p.mapping(n, path, []string{"destination", "key"})
		if !ok || !p.require(n, path, "destination") {
			return nil
		}
		if k := es.get("key"); k != nil {
			kp := join(path, "key")
			if text, why := yamlcheck.Str(k); p.check(k, kp, why) {
				rp, why := route.ParsePath(text)
				if text == "$" {
					why = "the key must be one field, not the whole message"
				}
				if why != "" {
					p.errorf(k, kp, "invalid path %s: %s", yamlcheck.Quote(text), why)
				} else {
					order = &rp
				}
			}
		}
		if n = es.get("destination"); n == nil {
			return nil
		}
		at = join(path, "destination")
	}
	dest := p.name(n, at, route.ValidKey, destinationRule)
	if dest != "" {
		p.sends = append(p.sends, send{dest: dest, path: at, line: n.Line})
	}
	return func(c *Context, m *Message) ([]*Message, error) {
		key := c.run.key
		if order != nil {
			v, ok := order.Lookup(m.Fields)
			switch v := v.(type) {
			case string:
				key = v
			case json.Number:
				key = v.String()
			default:
				if !ok {
					return nil, fmt.Errorf("no field %s for the outbound message's key", order)
				}
				return nil, fmt.Errorf("field %s: an outbound message's key must be a string or a number, got %s", order, jsonvalue.Kind(v))
			}
			if len(key) > MaxOrderKey {
				return nil, fmt.Errorf("field %s: an outbound message's key of %d bytes, at most %d", order, len(key), MaxOrderKey)
			}
		}
		if err := c.run.emit(dest, key, m.Fields); err != nil {
			return nil, err
		}
		m.sent = true
		return one(m), nil
	}
}
