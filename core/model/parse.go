package model

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

// Limits on a model file. They keep the work Parse does, and what a model
// asks of every object, bounded whatever the input.
const (
	maxFileSize   = yamlcheck.MaxFileSize
	maxTypes      = 256
	maxVersions   = 64
	maxFields     = 256 // of one record
	maxTypeDepth  = 16  // of nested type expressions
	maxHistory    = 1000
	maxIndexes    = 64
	maxRelations  = 64
	maxKeyFields  = 16
	maxSteps      = 256 // of one migration
	maxEnumValues = 1024
	maxNameLen    = 64
	maxErrors     = yamlcheck.MaxErrors // reported; Parse stops collecting a little past it
)

// The keys of each mapping of the format.
var (
	topKeys      = []string{"types"}
	typeKeys     = []string{"key", "affinity", "history", "indexes", "relations", "versions"}
	versionKeys  = []string{"version", "migrate", "fields"}
	indexKeys    = []string{"name", "fields", "unique"}
	relationKeys = []string{"name", "kind", "type", "fields"}
	kindKeys     = []string{"type", "enum", "array", "record", "map", "ref"}
	exprKeys     = append(slices.Clone(kindKeys), "nullable")
	fieldKeys    = append(slices.Clone(exprKeys), "default")
	addKeys      = []string{"field", "type", "default"}
	renameKeys   = []string{"from", "to"}
	convertKeys  = []string{"field", "to", "default"}
	splitKeys    = []string{"field", "into", "separator"}
	mergeKeys    = []string{"fields", "into", "separator"}
)

var (
	typeNamePattern  = regexp.MustCompile(`^[A-Z][A-Za-z0-9_]*$`)
	fieldNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Options changes what Parse accepts.
type Options struct {
	// AllowUnknownFuncs accepts func migration steps naming functions not
	// registered in this process (a tool checking a model without the
	// engine's functions linked in). Upgrading through one fails.
	AllowUnknownFuncs bool
}

// Parse reads a model file strictly. file names it in error messages. The
// error, when there is one, is an ErrorList of every problem found (each
// an *Error reading "FILE:LINE: PATH: problem"), sorted by line.
func Parse(file string, data []byte) (*Model, error) {
	return ParseWith(file, data, Options{})
}

// ParseWith is Parse with options.
func ParseWith(file string, data []byte, o Options) (*Model, error) {
	p := &parser{report: yamlcheck.Report{File: file}, opts: o, typeNodes: map[string]*yaml.Node{}}
	root := yamlcheck.Document(&p.report, data, "model")
	if root == nil {
		return nil, p.report.Err()
	}
	m := p.model(root)
	if err := p.report.Err(); err != nil {
		return nil, err
	}
	m.source = bytes.Clone(data)
	return m, nil
}

// parser collects errors while it walks one file's nodes, and what must
// wait until every type is known: refs to link and defaults to check.
type parser struct {
	report yamlcheck.Report
	opts   Options

	names     []string // declared type names, sorted
	typeNodes map[string]*yaml.Node
	refs      []*FieldType
	defaults  []pendingDefault
}

// pendingDefault is a default value to check once refs are linked.
type pendingDefault struct {
	node *yaml.Node
	path string
	ft   *FieldType
	set  func(any) // stores the normalized value
}

// errorf reports a problem at n's line and path.
func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	p.report.Addf(n, path, format, args...)
}

// check reports why (from a yamlcheck reader) unless it is "".
func (p *parser) check(n *yaml.Node, path, why string) bool { return p.report.Check(n, path, why) }

// entry is one key and value of a mapping.
type entry struct {
	key, val *yaml.Node
}

// fields is a mapping's entries by key, and in order.
type fields struct {
	node    *yaml.Node
	entries []entry
	vals    map[string]*yaml.Node
	keys    map[string]*yaml.Node
}

func (f fields) get(key string) *yaml.Node { return f.vals[key] }

// mapping checks that n is a mapping whose keys are unique and, unless
// allowed is nil, among allowed. A null value counts as absent, except
// for a default (which may be null). ok is false when n is no mapping.
func (p *parser) mapping(n *yaml.Node, path string, allowed []string) (f fields, ok bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping, got %s", describe(n))
		return fields{}, false
	}
	f = fields{node: n, vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	for k, v := range yamlcheck.Pairs(&p.report, n, path, "a key must be a name") {
		f.keys[k.Value] = k
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			p.errorf(k, path, "unknown key %s%s", quote(k.Value), hint(k.Value, allowed))
			continue
		}
		if yamlcheck.IsNull(v) && k.Value != "default" {
			p.errorf(k, path, "`%s` has no value: give it one or leave the key out", k.Value)
			continue
		}
		f.vals[k.Value] = v
		f.entries = append(f.entries, entry{k, v})
	}
	return f, true
}

// list checks that n is a list of at most max items and returns them.
func (p *parser) list(n *yaml.Node, path string, max int) ([]*yaml.Node, bool) {
	items, why := yamlcheck.List(n, max)
	return items, p.check(n, path, why)
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	s, why := yamlcheck.Str(n)
	return s, p.check(n, path, why)
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	b, why := yamlcheck.Bool(n)
	return b, p.check(n, path, why)
}

// integer reads an integer in lo..hi.
func (p *parser) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	i, why := yamlcheck.Int(n, lo, hi)
	return i, p.check(n, path, why)
}

// name reads a name matching pattern; what describes the pattern.
func (p *parser) name(n *yaml.Node, path string, pattern *regexp.Regexp, what string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if len(s) > maxNameLen || !pattern.MatchString(s) {
		p.errorf(n, path, "%s is not a valid name: %s", quote(s), what)
		return "", false
	}
	return s, true
}

const (
	typeNameRule  = "a type name is letters, digits and _ (at most 64), starting with an upper-case letter"
	fieldNameRule = "a name is letters, digits and _ (at most 64), not starting with a digit"
)

// names reads a non-empty list of distinct names (a single name is a
// list of one).
func (p *parser) nameList(n *yaml.Node, path string, max int, pattern *regexp.Regexp) ([]string, bool) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		var ok bool
		if items, ok = p.list(n, path, max); !ok {
			return nil, false
		}
	}
	if len(items) == 0 {
		p.errorf(n, path, "must not be empty")
		return nil, false
	}
	var out []string
	ok := true
	for i, item := range items {
		s, good := p.name(item, fmt.Sprintf("%s[%d]", path, i), pattern, "a field name or dotted path")
		if !good {
			ok = false
			continue
		}
		if slices.Contains(out, s) {
			p.errorf(item, path, "lists %s twice", quote(s))
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

var fieldPathPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

func (p *parser) model(root *yaml.Node) *Model {
	m := &Model{byName: map[string]*Type{}}
	f, ok := p.mapping(root, "", topKeys)
	if !ok {
		return m
	}
	tn := f.get("types")
	if tn == nil {
		if _, present := f.keys["types"]; !present {
			p.errorf(root, "", "missing required key `types`")
		}
		return m
	}
	tf, ok := p.mapping(tn, "types", nil)
	if !ok {
		return m
	}
	if len(tf.entries) == 0 {
		p.errorf(tn, "types", "the model declares no types")
		return m
	}
	if len(tf.entries) > maxTypes {
		p.errorf(tn, "types", "declares %d types, at most %d", len(tf.entries), maxTypes)
		return m
	}
	for _, e := range tf.entries {
		if len(e.key.Value) > maxNameLen || !typeNamePattern.MatchString(e.key.Value) {
			p.errorf(e.key, "types", "%s is not a valid type name: %s", quote(e.key.Value), typeNameRule)
			continue
		}
		p.names = append(p.names, e.key.Value)
	}
	slices.Sort(p.names)
	type declared struct {
		t    *Type
		n    *yaml.Node
		path string
	}
	var all []declared
	for _, e := range tf.entries {
		if !slices.Contains(p.names, e.key.Value) {
			continue
		}
		path := "types." + e.key.Value
		p.typeNodes[e.key.Value] = e.val
		t := p.typ(e.key.Value, e.val, path)
		if t == nil {
			continue
		}
		m.byName[t.Name] = t
		m.Types = append(m.Types, t)
		all = append(all, declared{t, e.val, path})
	}
	// Everything below needs every type known: refs point at them, and a
	// ref's values are its target's key.
	for _, ft := range p.refs {
		ft.target = m.byName[ft.Ref]
	}
	for _, d := range all {
		p.resolveKey(d.t, d.n, d.path, nil)
	}
	for _, pd := range p.defaults {
		v, err := conform("$", pd.ft, yamlValue(pd.node))
		if err != nil {
			p.errorf(pd.node, pd.path, "not valid for %s: %s", pd.ft, objectMsg(err))
			continue
		}
		pd.set(v)
	}
	for _, d := range all {
		p.checkType(m, d.t, d.n, d.path)
	}
	sort.Slice(m.Types, func(i, j int) bool { return m.Types[i].Name < m.Types[j].Name })
	return m
}

// objectMsg is an ObjectError's message with its path relative to the
// value, for messages about values in the model file.
func objectMsg(err error) string {
	var oe *ObjectError
	if errors.As(err, &oe) {
		if oe.Path != "$" {
			return oe.Path + ": " + oe.Msg
		}
		return oe.Msg
	}
	return err.Error()
}

func (p *parser) typ(name string, n *yaml.Node, path string) *Type {
	f, ok := p.mapping(n, path, typeKeys)
	if !ok {
		return nil
	}
	t := &Type{Name: name}
	if v := f.get("key"); v == nil {
		p.errorf(n, path, "missing required key `key`")
	} else {
		t.Key, _ = p.nameList(v, path+".key", maxKeyFields, fieldNamePattern)
	}
	if v := f.get("affinity"); v != nil {
		t.Affinity, _ = p.name(v, path+".affinity", fieldNamePattern, fieldNameRule)
	} else if len(t.Key) > 0 {
		t.Affinity = t.Key[0]
	}
	if v := f.get("history"); v != nil {
		t.History, _ = p.integer(v, path+".history", 0, maxHistory)
	}
	if v := f.get("indexes"); v != nil {
		t.Indexes = p.indexes(v, path+".indexes")
	}
	if v := f.get("relations"); v != nil {
		t.Relations = p.relations(v, path+".relations")
	}
	if v := f.get("versions"); v == nil {
		p.errorf(n, path, "missing required key `versions`")
	} else {
		t.Versions = p.versions(v, path+".versions")
	}
	return t
}

// itemName reads the required `name` of a list's item, which must be
// unique in the list: seen maps the names read so far to their lines,
// and what names the items ("index").
func (p *parser) itemName(f fields, item *yaml.Node, path, what string, seen map[string]int) string {
	v := f.get("name")
	if v == nil {
		p.errorf(item, path, "missing required key `name`")
		return ""
	}
	name, ok := p.name(v, path+".name", fieldNamePattern, fieldNameRule)
	if ok {
		if first, dup := seen[name]; dup {
			p.errorf(v, path+".name", "%s name %s is used twice (first at line %d)", what, quote(name), first)
		}
		seen[name] = v.Line
	}
	return name
}

func (p *parser) indexes(n *yaml.Node, path string) []Index {
	items, ok := p.list(n, path, maxIndexes)
	if !ok {
		return nil
	}
	var out []Index
	seen := map[string]int{}
	for i, item := range items {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		f, ok := p.mapping(item, ipath, indexKeys)
		if !ok {
			continue
		}
		ix := Index{Name: p.itemName(f, item, ipath, "index", seen)}
		if v := f.get("fields"); v == nil {
			p.errorf(item, ipath, "missing required key `fields`")
		} else if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
			p.errorf(v, ipath+".fields", "an index needs at least one field")
		} else {
			ix.Fields, _ = p.nameList(v, ipath+".fields", maxKeyFields, fieldNamePattern)
		}
		if v := f.get("unique"); v != nil {
			ix.Unique, _ = p.boolean(v, ipath+".unique")
		}
		out = append(out, ix)
	}
	return out
}

func (p *parser) relations(n *yaml.Node, path string) []Relation {
	items, ok := p.list(n, path, maxRelations)
	if !ok {
		return nil
	}
	var out []Relation
	seen := map[string]int{}
	for i, item := range items {
		rpath := fmt.Sprintf("%s[%d]", path, i)
		f, ok := p.mapping(item, rpath, relationKeys)
		if !ok {
			continue
		}
		r := Relation{Name: p.itemName(f, item, rpath, "relation", seen)}
		if v := f.get("kind"); v == nil {
			p.errorf(item, rpath, "missing required key `kind`")
		} else if s, ok := p.str(v, rpath+".kind"); ok {
			if !slices.Contains(relationKinds, s) {
				p.errorf(v, rpath+".kind", "unknown relation kind %s%s", quote(s), hint(s, relationKinds))
			} else {
				r.Kind = s
			}
		}
		if v := f.get("type"); v == nil {
			p.errorf(item, rpath, "missing required key `type`")
		} else if s, ok := p.str(v, rpath+".type"); ok {
			if !slices.Contains(p.names, s) {
				p.errorf(v, rpath+".type", "unknown type %s%s", quote(s), hint(s, p.names))
			} else {
				r.Type = s
			}
		}
		if v := f.get("fields"); v == nil {
			p.errorf(item, rpath, "missing required key `fields`")
		} else if ff, ok := p.mapping(v, rpath+".fields", nil); ok {
			if len(ff.entries) == 0 {
				p.errorf(v, rpath+".fields", "a relation needs at least one pair of fields")
			}
			for _, e := range ff.entries {
				from, ok1 := p.name(e.key, rpath+".fields", fieldNamePattern, fieldNameRule)
				to, ok2 := p.name(e.val, rpath+".fields."+e.key.Value, fieldNamePattern, fieldNameRule)
				if ok1 && ok2 {
					r.From = append(r.From, from)
					r.To = append(r.To, to)
				}
			}
		}
		out = append(out, r)
	}
	return out
}

func (p *parser) versions(n *yaml.Node, path string) []*Version {
	items, ok := p.list(n, path, maxVersions)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(n, path, "a type needs at least one version")
		return nil
	}
	var out []*Version
	for i, item := range items {
		vpath := fmt.Sprintf("%s[%d]", path, i)
		f, ok := p.mapping(item, vpath, versionKeys)
		if !ok {
			out = append(out, &Version{Number: i + 1, record: &FieldType{Kind: Record}, incomplete: true})
			continue
		}
		v := &Version{Number: i + 1}
		if num := f.get("version"); num == nil {
			p.errorf(item, vpath, "missing required key `version` (this is version %d)", i+1)
		} else if k, ok := p.integer(num, vpath+".version", 1, maxVersions); ok && k != i+1 {
			p.errorf(num, vpath+".version", "versions are numbered 1, 2, 3… in order: expected %d, got %d", i+1, k)
		}
		mig := f.get("migrate")
		switch {
		case i == 0 && mig != nil:
			p.errorf(f.keys["migrate"], vpath+".migrate", "version 1 has no version before it to migrate from")
		case i > 0 && mig == nil:
			p.errorf(item, vpath, "version %d needs `migrate`: the steps that turn a version %d object into a version %d one", i+1, i, i+1)
		case mig != nil:
			v.Migration = p.steps(mig, vpath+".migrate")
		}
		if fl := f.get("fields"); fl == nil {
			p.errorf(item, vpath, "missing required key `fields`")
			v.incomplete = true
		} else {
			before := p.report.Len()
			v.Fields = p.fieldList(fl, vpath+".fields", 1)
			v.incomplete = p.report.Len() > before
		}
		v.record = &FieldType{Kind: Record, Fields: v.Fields}
		out = append(out, v)
	}
	return out
}

// fieldList reads a mapping of field names to type expressions.
func (p *parser) fieldList(n *yaml.Node, path string, depth int) []*Field {
	f, ok := p.mapping(n, path, nil)
	if !ok {
		return nil
	}
	if len(f.entries) > maxFields {
		p.errorf(n, path, "has %d fields, at most %d", len(f.entries), maxFields)
		return nil
	}
	var out []*Field
	for _, e := range f.entries {
		fpath := path + "." + e.key.Value
		if len(e.key.Value) > maxNameLen || !fieldNamePattern.MatchString(e.key.Value) {
			p.errorf(e.key, path, "%s is not a valid field name: %s", quote(e.key.Value), fieldNameRule)
			continue
		}
		if yamlcheck.IsNull(e.val) {
			p.errorf(e.key, fpath, "has no type")
			continue
		}
		fd := &Field{Name: e.key.Value}
		ft, def, ok := p.typeExpr(e.val, fpath, depth, true)
		if !ok {
			continue
		}
		fd.Type = ft
		if def != nil {
			fd.HasDefault = true
			p.defaults = append(p.defaults, pendingDefault{node: def, path: fpath + ".default", ft: ft, set: func(v any) { fd.Default = v }})
		}
		out = append(out, fd)
	}
	return out
}

// typeExpr reads a type expression; def is its default's node when
// withDefault allows one and it has one.
func (p *parser) typeExpr(n *yaml.Node, path string, depth int, withDefault bool) (ft *FieldType, def *yaml.Node, ok bool) {
	if depth > maxTypeDepth {
		p.errorf(n, path, "types nest deeper than %d", maxTypeDepth)
		return nil, nil, false
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() != "!!str" {
			p.errorf(n, path, "must be a type, got %s", describe(n))
			return nil, nil, false
		}
		ft, ok := p.scalarType(n, path)
		return ft, nil, ok
	case yaml.MappingNode:
	default:
		p.errorf(n, path, "must be a type (a scalar name or a mapping), got %s", describe(n))
		return nil, nil, false
	}
	allowed := exprKeys
	if withDefault {
		allowed = fieldKeys
	}
	f, ok := p.mapping(n, path, allowed)
	if !ok {
		return nil, nil, false
	}
	var kinds []string
	for _, e := range f.entries {
		if slices.Contains(kindKeys, e.key.Value) {
			kinds = append(kinds, e.key.Value)
		}
	}
	switch len(kinds) {
	case 0:
		if !slices.ContainsFunc(kindKeys, func(k string) bool { return f.keys[k] != nil }) {
			p.errorf(n, path, "a type needs one of %s", strings.Join(kindKeys, ", "))
		}
		return nil, nil, false
	case 1:
	default:
		p.errorf(f.keys[kinds[1]], path, "a type takes one of %s, got both %s and %s", strings.Join(kindKeys, ", "), kinds[0], kinds[1])
		return nil, nil, false
	}
	kind := kinds[0]
	v := f.get(kind)
	kpath := path + "." + kind
	switch kind {
	case "type":
		ft, ok = p.scalarType(v, kpath)
	case "enum":
		ft, ok = p.enum(v, kpath)
	case "array", "map":
		var elem *FieldType
		if elem, _, ok = p.typeExpr(v, kpath, depth+1, false); ok {
			ft = &FieldType{Kind: Kind(kind), Elem: elem}
		}
	case "record":
		var ff fields
		if ff, ok = p.mapping(v, kpath, nil); ok && len(ff.entries) == 0 {
			p.errorf(v, kpath, "a record needs at least one field")
			ok = false
		}
		if ok {
			ft = &FieldType{Kind: Record, Fields: p.fieldList(v, kpath, depth+1)}
		}
	case "ref":
		var s string
		if s, ok = p.str(v, kpath); ok {
			if !slices.Contains(p.names, s) {
				p.errorf(v, kpath, "unknown type %s%s", quote(s), hint(s, p.names))
				ok = false
			} else {
				ft = &FieldType{Kind: Ref, Ref: s}
				p.refs = append(p.refs, ft)
			}
		}
	}
	if nv := f.get("nullable"); nv != nil {
		if b, good := p.boolean(nv, path+".nullable"); good && ok {
			ft.Nullable = ft.Nullable || b
		}
	}
	if withDefault {
		if _, present := f.keys["default"]; present {
			def = n.Content[slices.IndexFunc(n.Content, func(k *yaml.Node) bool { return k == f.keys["default"] })+1]
		}
	}
	return ft, def, ok
}

// scalarType reads a scalar type name, with ? for nullable.
func (p *parser) scalarType(n *yaml.Node, path string) (*FieldType, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return nil, false
	}
	name, nullable := strings.CutSuffix(s, "?")
	if slices.Contains(scalarKinds, name) {
		return &FieldType{Kind: Kind(name), Nullable: nullable}, true
	}
	switch {
	case slices.Contains(p.names, name):
		p.errorf(n, path, "unknown field type %s: to refer to type %s, write {ref: %s}", quote(s), name, name)
	case slices.Contains(kindKeys, name):
		p.errorf(n, path, "unknown field type %s: %s takes a value, write {%s: …}", quote(s), name, name)
	default:
		p.errorf(n, path, "unknown field type %s%s", quote(s), hint(name, scalarKinds))
	}
	return nil, false
}

func (p *parser) enum(n *yaml.Node, path string) (*FieldType, bool) {
	items, ok := p.list(n, path, maxEnumValues)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		p.errorf(n, path, "an enum needs at least one value")
		return nil, false
	}
	ft := &FieldType{Kind: Enum}
	for _, item := range items {
		if item.Kind != yaml.ScalarNode || yamlcheck.IsNull(item) {
			p.errorf(item, path, "an enum value must be a string, got %s", describe(item))
			ok = false
			continue
		}
		if slices.Contains(ft.Values, item.Value) {
			p.errorf(item, path, "lists the value %s twice", quote(item.Value))
			ok = false
			continue
		}
		ft.Values = append(ft.Values, item.Value)
	}
	return ft, ok
}

// steps reads a migration.
func (p *parser) steps(n *yaml.Node, path string) []Step {
	items, ok := p.list(n, path, maxSteps)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(n, path, "a migration needs at least one step")
		return nil
	}
	// Fixed length: step defaults are stored through pointers into it
	// once every type is known.
	out := make([]Step, len(items))
	for i, item := range items {
		spath := fmt.Sprintf("%s[%d]", path, i)
		if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
			p.errorf(item, spath, "a step is a mapping of one key, one of %s, got %s", strings.Join(stepOps, ", "), describe(item))
			continue
		}
		f, ok := p.mapping(item, spath, stepOps)
		if !ok || len(f.entries) != 1 {
			continue
		}
		op := f.entries[0].key.Value
		p.step(&out[i], op, f.entries[0].val, spath+"."+op)
	}
	return out
}

// step reads one step into s; a step that fails to read is left with an
// empty Op.
func (p *parser) step(s *Step, op string, n *yaml.Node, path string) {
	*s = Step{Op: op}
	good := true
	req := func(f fields, key string) *yaml.Node {
		v := f.get(key)
		if v == nil {
			if _, present := f.keys[key]; !present {
				p.errorf(n, path, "missing required key `%s`", key)
			}
			good = false
		}
		return v
	}
	fieldPathOf := func(v *yaml.Node, at string) string {
		if v == nil {
			return ""
		}
		s, ok := p.name(v, at, fieldPathPattern, "a field name or dotted path")
		good = good && ok
		return s
	}
	defaultOf := func(f fields, ft *FieldType) {
		if _, present := f.keys["default"]; !present || ft == nil {
			return
		}
		s.HasDefault = true
		p.defaults = append(p.defaults, pendingDefault{node: f.vals["default"], path: path + ".default", ft: ft, set: func(v any) { s.Default = v }})
	}
	switch op {
	case OpAdd:
		f, ok := p.mapping(n, path, addKeys)
		if !ok {
			*s = Step{}
			return
		}
		s.Field = fieldPathOf(req(f, "field"), path+".field")
		if tv := req(f, "type"); tv != nil {
			ft, _, ok := p.typeExpr(tv, path+".type", 1, false)
			s.Type, good = ft, good && ok
		}
		defaultOf(f, s.Type)
		if good && !s.HasDefault && !s.Type.Nullable {
			p.errorf(n, path, "adding field %s, which is not nullable, needs `default`", quote(s.Field))
		}
	case OpRename:
		f, ok := p.mapping(n, path, renameKeys)
		if !ok {
			*s = Step{}
			return
		}
		s.From = fieldPathOf(req(f, "from"), path+".from")
		s.To = fieldPathOf(req(f, "to"), path+".to")
		if good && strings.Contains(s.To, ".") {
			if parent(s.To) != parent(s.From) {
				p.errorf(f.get("to"), path+".to", "a rename stays in its record: %s is not beside %s", quote(s.To), quote(s.From))
				good = false
			}
			s.To = leaf(s.To)
		}
	case OpDrop:
		s.Field = fieldPathOf(n, path)
	case OpConvert:
		f, ok := p.mapping(n, path, convertKeys)
		if !ok {
			*s = Step{}
			return
		}
		s.Field = fieldPathOf(req(f, "field"), path+".field")
		if tv := req(f, "to"); tv != nil {
			ft, _, ok := p.typeExpr(tv, path+".to", 1, false)
			s.Type, good = ft, good && ok
		}
		defaultOf(f, s.Type)
	case OpSplit:
		f, ok := p.mapping(n, path, splitKeys)
		if !ok {
			*s = Step{}
			return
		}
		s.Field = fieldPathOf(req(f, "field"), path+".field")
		if v := req(f, "into"); v != nil {
			var ok bool
			s.Into, ok = p.nameList(v, path+".into", maxFields, fieldNamePattern)
			good = good && ok
			if ok && len(s.Into) < 2 {
				p.errorf(v, path+".into", "a split needs at least two fields")
				good = false
			}
		}
		if v := req(f, "separator"); v != nil {
			var ok bool
			s.Separator, ok = p.str(v, path+".separator")
			good = good && ok
			if ok && s.Separator == "" {
				p.errorf(v, path+".separator", "must not be empty")
				good = false
			}
		}
	case OpMerge:
		f, ok := p.mapping(n, path, mergeKeys)
		if !ok {
			*s = Step{}
			return
		}
		if v := req(f, "fields"); v != nil {
			var ok bool
			s.Fields, ok = p.nameList(v, path+".fields", maxFields, fieldPathPattern)
			good = good && ok
			for _, fp := range s.Fields {
				if ok && parent(fp) != parent(s.Fields[0]) {
					p.errorf(v, path+".fields", "merged fields must be in one record: %s is not beside %s", quote(fp), quote(s.Fields[0]))
					good = false
					break
				}
			}
		}
		if v := req(f, "into"); v != nil {
			var ok bool
			s.To, ok = p.name(v, path+".into", fieldNamePattern, fieldNameRule)
			good = good && ok
		}
		if v := f.get("separator"); v != nil {
			var ok bool
			s.Separator, ok = p.str(v, path+".separator")
			good = good && ok
		}
	case OpFunc:
		name, ok := p.str(n, path)
		if ok && name == "" {
			p.errorf(n, path, "must name a registered function")
			ok = false
		}
		if ok && migrations[name] == nil && !p.opts.AllowUnknownFuncs {
			p.errorf(n, path, "unknown migration func %s%s", quote(name), hint(name, slices.Sorted(maps.Keys(migrations))))
			ok = false
		}
		s.Func, good = name, ok
	}
	if !good {
		*s = Step{}
	}
}

// parent returns the dotted path of a path's record ("" for the top).
func parent(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// leaf returns the last name of a dotted path.
func leaf(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}

// yamlValue turns a default from the file into the shape parseJSON
// gives, for conform.
func yamlValue(n *yaml.Node) any {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return jsonNumber(strconv.FormatInt(i, 10))
			}
			return jsonNumber(n.Value)
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return f
				}
				return jsonNumber(strconv.FormatFloat(f, 'g', -1, 64))
			}
		}
		return n.Value
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = yamlValue(c)
		}
		return out
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = yamlValue(n.Content[i+1])
		}
		return out
	}
	return nil
}
