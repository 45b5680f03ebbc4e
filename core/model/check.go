package model

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The checks Parse makes once every type is known.

// child returns the node at keys (mapping keys as strings, list indexes
// as ints) below n, or the deepest node it reached, so that a message
// gets the nearest line there is.
func child(n *yaml.Node, keys ...any) *yaml.Node {
	for _, k := range keys {
		var next *yaml.Node
		switch k := k.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// Key resolution states.
const (
	keyUnresolved = iota
	keyResolving
	keyResolved
)

// resolveKey computes t.keyShape, following refs among key fields;
// chain is the types whose keys are being resolved, to find cycles.
func (p *parser) resolveKey(t *Type, n *yaml.Node, path string, chain []string) *FieldType {
	switch t.keyState {
	case keyResolved:
		return t.keyShape
	case keyResolving:
		cycle := append(chain[slices.Index(chain, t.Name):], t.Name)
		p.errorf(child(n, "key"), path+".key", "the key refers to itself through refs: %s", strings.Join(cycle, " → "))
		return nil
	}
	t.keyState = keyResolving
	defer func() { t.keyState = keyResolved }()
	if len(t.Versions) == 0 || len(t.Key) == 0 {
		return nil
	}
	latest := t.Versions[len(t.Versions)-1]
	var shapes []*Field
	for _, name := range t.Key {
		f, ok := latest.Field(name)
		if !ok || f.Type == nil {
			return nil
		}
		ft := f.Type
		if ft.Kind == Ref {
			if ft.target == nil {
				return nil
			}
			ft = p.resolveKey(ft.target, p.typeNodes[ft.target.Name], "types."+ft.target.Name, append(chain, t.Name))
			if ft == nil {
				return nil
			}
		}
		switch ft.Kind {
		case Array, Map:
			return nil
		case Record:
			if ft == f.Type { // a record declared as a key field, not a composite key's shape
				return nil
			}
		}
		shapes = append(shapes, &Field{Name: name, Type: ft.withNullable(false)})
	}
	if len(shapes) == 1 {
		t.keyShape = shapes[0].Type
	} else {
		t.keyShape = &FieldType{Kind: Record, Fields: shapes}
	}
	return t.keyShape
}

// checkType checks what in a type depends on other types or on all its
// versions: its key and affinity, migrations, indexes and relations.
func (p *parser) checkType(m *Model, t *Type, n *yaml.Node, path string) {
	if len(t.Versions) == 0 {
		return
	}
	fixed := map[string]string{}
	if len(t.Key) > 0 {
		keyNode := child(n, "key")
		for _, name := range t.Key {
			if p.checkFixed(t, name, "key field", keyNode, path+".key", true) {
				fixed[name] = "key field"
			}
		}
	}
	if t.Affinity != "" && !slices.Contains(t.Key, t.Affinity) {
		// The bucket must follow from the key alone: a read by key goes
		// straight to the replicaset that holds the object.
		p.errorf(child(n, "affinity"), path+".affinity", "the affinity field %s is not a key field (key: %s): an object's bucket must follow from its key",
			quote(t.Affinity), strings.Join(t.Key, ", "))
	} else if t.Affinity != "" {
		if f, ok := t.Versions[0].Field(t.Affinity); ok && f.Type != nil {
			if r := f.Type.resolved(); r != nil && r.Kind == Record {
				p.errorf(child(n, "affinity"), path+".affinity", "the affinity field %s refers to %s, whose key has several fields: choose a field with one value", quote(t.Affinity), f.Type.Ref)
			}
		}
	}
	for k := 1; k < len(t.Versions); k++ {
		p.checkMigration(t, k, child(n, "versions", k), fmt.Sprintf("%s.versions[%d]", path, k), fixed)
	}
	latest := t.Versions[len(t.Versions)-1]
	for i, ix := range t.Indexes {
		ipath := fmt.Sprintf("%s.indexes[%d].fields", path, i)
		for j, name := range ix.Fields {
			node := child(n, "indexes", i, "fields", j)
			f, ok := latest.Field(name)
			if !ok && latest.incomplete {
				continue
			}
			if !ok {
				p.errorf(node, ipath, "field %s is not a field of version %d, the latest%s", quote(name), latest.Number, hint(name, latestNames(latest)))
				continue
			}
			if f.Type != nil && !indexable(f.Type) {
				p.errorf(node, ipath, "field %s is %s: an index takes scalars, enums and refs", quote(name), f.Type.name())
			}
		}
	}
	for i, r := range t.Relations {
		rpath := fmt.Sprintf("%s.relations[%d].fields", path, i)
		target, ok := m.Type(r.Type)
		if !ok || len(target.Versions) == 0 {
			continue
		}
		tl := target.Versions[len(target.Versions)-1]
		for j := range r.From {
			node := child(n, "relations", i, "fields", r.From[j])
			from, ok1 := latest.Field(r.From[j])
			if !ok1 {
				p.errorf(node, rpath, "field %s is not a field of %s version %d%s", quote(r.From[j]), t.Name, latest.Number, hint(r.From[j], latestNames(latest)))
			}
			to, ok2 := tl.Field(r.To[j])
			if !ok2 {
				p.errorf(node, rpath+"."+r.From[j], "field %s is not a field of %s version %d%s", quote(r.To[j]), target.Name, tl.Number, hint(r.To[j], latestNames(tl)))
			}
			if !ok1 || !ok2 || from.Type == nil || to.Type == nil {
				continue
			}
			a, b := from.Type.resolved(), to.Type.resolved()
			if a == nil || b == nil {
				continue
			}
			if !equal(a.withNullable(false), b.withNullable(false)) {
				p.errorf(node, rpath+"."+r.From[j], "field %s of %s is %s but field %s of %s is %s: related fields must hold the same type", quote(r.From[j]), t.Name, from.Type, quote(r.To[j]), target.Name, to.Type)
			}
		}
	}
}

func latestNames(v *Version) []string {
	names := make([]string, len(v.Fields))
	for i, f := range v.Fields {
		names[i] = f.Name
	}
	return names
}

// indexable reports whether values of ft can be index or key values.
func indexable(ft *FieldType) bool {
	return ft.Kind.IsScalar() || ft.Kind == Enum || ft.Kind == Ref
}

// checkFixed checks that a key or affinity field is in every version
// with one non-nullable type; ok is true when the field exists at all.
func (p *parser) checkFixed(t *Type, name, what string, node *yaml.Node, path string, key bool) bool {
	var first *Field
	for _, v := range t.Versions {
		f, ok := v.Field(name)
		if !ok && v.incomplete {
			return true
		}
		if !ok {
			p.errorf(node, path, "%s %s is not a field of version %d%s", what, quote(name), v.Number, hint(name, latestNames(v)))
			return first != nil
		}
		if f.Type == nil {
			return true
		}
		if first == nil {
			first = f
			if f.Type.Nullable {
				p.errorf(node, path, "%s %s is nullable: it must always have a value", what, quote(name))
			}
			if !indexable(f.Type) {
				p.errorf(node, path, "%s %s must be a scalar, enum or ref, got %s", what, quote(name), f.Type.name())
			}
			continue
		}
		if !equal(first.Type, f.Type) {
			p.errorf(node, path, "%s %s is %s in version 1 but %s in version %d: it is fixed across versions", what, quote(name), first.Type, f.Type, v.Number)
			return true
		}
	}
	return true
}

// verbs name what a step does to the field it changes.
var verbs = map[string]string{OpRename: "rename", OpDrop: "drop", OpConvert: "convert", OpSplit: "split", OpMerge: "merge"}

// checkMigration applies version k's migration to the shape of version
// k-1 (Versions[k-1]) and compares the result with what version k+1
// declares.
func (p *parser) checkMigration(t *Type, k int, vnode *yaml.Node, vpath string, fixed map[string]string) {
	prev, next := t.Versions[k-1], t.Versions[k]
	if prev.incomplete || next.incomplete {
		return
	}
	static := len(next.Migration) > 0
	for _, s := range next.Migration {
		if s.Op == "" || s.Op == OpFunc {
			static = false
		}
	}
	work := cloneType(prev.record)
	good := true
	for i, s := range next.Migration {
		spath := fmt.Sprintf("%s.migrate[%d].%s", vpath, i, s.Op)
		snode := child(vnode, "migrate", i)
		var touched []string
		switch s.Op {
		case OpRename:
			touched = []string{s.From}
		case OpDrop, OpConvert, OpSplit:
			touched = []string{s.Field}
		case OpMerge:
			touched = s.Fields
		}
		for _, fp := range touched {
			if what, ok := fixed[fp]; ok {
				p.errorf(snode, spath, "the %s %s is fixed across versions: a migration may not %s it", what, quote(fp), verbs[s.Op])
				good = false
			}
		}
		if !static {
			continue
		}
		if msg := applyShape(work, s); msg != "" {
			p.errorf(snode, spath, "%s", msg)
			good = false
		}
	}
	if !static || !good {
		return
	}
	from := "the migration from version " + strconv.Itoa(k)
	for _, f := range next.Fields {
		if work.field(f.Name) == nil {
			p.errorf(vnode, vpath, "%s does not produce field %s, which version %d declares", from, quote(f.Name), k+1)
		}
	}
	for _, f := range work.Fields {
		decl := next.record.field(f.Name)
		if decl == nil {
			p.errorf(vnode, vpath, "%s produces field %s, which version %d does not declare", from, quote(f.Name), k+1)
			continue
		}
		if f.Type == nil || decl.Type == nil {
			continue
		}
		if d := differ(f.Type, decl.Type, f.Name, k+1); d != "" {
			p.errorf(vnode, vpath, "%s %s", from, d)
		}
	}
}

// cloneType deep-copies a type expression (refs keep their target).
func cloneType(ft *FieldType) *FieldType {
	if ft == nil {
		return nil
	}
	c := *ft
	c.Elem = cloneType(ft.Elem)
	if ft.Fields != nil {
		c.Fields = make([]*Field, len(ft.Fields))
		for i, f := range ft.Fields {
			cf := *f
			cf.Type = cloneType(f.Type)
			c.Fields[i] = &cf
		}
	}
	return &c
}

// locateShape finds the record holding the field at a dotted path.
func locateShape(rec *FieldType, path string) (*FieldType, string, string) {
	segs := strings.Split(path, ".")
	for i, seg := range segs[:len(segs)-1] {
		f := rec.field(seg)
		if f == nil {
			return nil, "", fmt.Sprintf("there is no field %s at this step%s", quote(strings.Join(segs[:i+1], ".")), hint(seg, rec.fieldNames()))
		}
		if f.Type == nil || f.Type.Kind != Record {
			return nil, "", fmt.Sprintf("field %s is not a record", quote(strings.Join(segs[:i+1], ".")))
		}
		rec = f.Type
	}
	return rec, segs[len(segs)-1], ""
}

// applyShape applies one step to a record's shape, or says why it
// cannot be applied.
func applyShape(work *FieldType, s Step) string {
	missing := func(rec *FieldType, path string) string {
		return fmt.Sprintf("there is no field %s at this step%s", quote(path), hint(leaf(path), rec.fieldNames()))
	}
	at := func(path string) (*FieldType, string, int, string) {
		rec, name, msg := locateShape(work, path)
		if msg != "" {
			return nil, "", -1, msg
		}
		return rec, name, slices.IndexFunc(rec.Fields, func(f *Field) bool { return f.Name == name }), ""
	}
	// existing is at for a field the step needs: msg says why it is not
	// there.
	existing := func(path string) (*FieldType, int, string) {
		rec, _, i, msg := at(path)
		if msg == "" && i < 0 {
			msg = missing(rec, path)
		}
		return rec, i, msg
	}
	switch s.Op {
	case OpAdd:
		rec, name, i, msg := at(s.Field)
		if msg != "" {
			return msg
		}
		if i >= 0 {
			return fmt.Sprintf("field %s already exists", quote(s.Field))
		}
		rec.Fields = append(rec.Fields, &Field{Name: name, Type: cloneType(s.Type), HasDefault: s.HasDefault, Default: s.Default})
	case OpRename:
		rec, i, msg := existing(s.From)
		if msg != "" {
			return msg
		}
		if rec.field(s.To) != nil {
			return fmt.Sprintf("field %s already exists", quote(s.To))
		}
		f := *rec.Fields[i]
		f.Name = s.To
		rec.Fields[i] = &f
	case OpDrop:
		rec, i, msg := existing(s.Field)
		if msg != "" {
			return msg
		}
		rec.Fields = slices.Delete(rec.Fields, i, i+1)
	case OpConvert:
		rec, i, msg := existing(s.Field)
		if msg != "" {
			return msg
		}
		old := rec.Fields[i].Type
		ok, total := conversion(old, s.Type)
		if !ok {
			return fmt.Sprintf("cannot convert %s to %s", old, s.Type)
		}
		if !total && !s.HasDefault {
			return fmt.Sprintf("converting %s to %s can fail for some values: give a `default` for them", old, s.Type)
		}
		f := *rec.Fields[i]
		f.Type = cloneType(s.Type)
		rec.Fields[i] = &f
	case OpSplit:
		rec, i, msg := existing(s.Field)
		if msg != "" {
			return msg
		}
		if r := rec.Fields[i].Type.resolved(); r == nil || r.Kind != String {
			return fmt.Sprintf("split takes a string field, and %s is %s", quote(s.Field), rec.Fields[i].Type)
		}
		rest := slices.Delete(slices.Clone(rec.Fields), i, i+1)
		parts := make([]*Field, len(s.Into))
		for j, name := range s.Into {
			if slices.ContainsFunc(rest, func(f *Field) bool { return f.Name == name }) {
				return fmt.Sprintf("field %s already exists", quote(name))
			}
			parts[j] = &Field{Name: name, Type: &FieldType{Kind: String}}
		}
		rec.Fields = slices.Insert(rest, i, parts...)
	case OpMerge:
		rec, _, first, msg := at(s.Fields[0])
		if msg != "" {
			return msg
		}
		for _, fp := range s.Fields {
			f := rec.field(leaf(fp))
			if f == nil {
				return missing(rec, fp)
			}
			if r := f.Type.resolved(); r == nil || !(r.Kind.IsScalar() || r.Kind == Enum) {
				return fmt.Sprintf("merge takes scalar fields, and %s is %s", quote(fp), f.Type)
			}
		}
		rest := slices.DeleteFunc(slices.Clone(rec.Fields), func(f *Field) bool {
			return slices.ContainsFunc(s.Fields, func(fp string) bool { return leaf(fp) == f.Name })
		})
		if slices.ContainsFunc(rest, func(f *Field) bool { return f.Name == s.To }) {
			return fmt.Sprintf("field %s already exists", quote(s.To))
		}
		pos := 0 // where the first merged field was, among those that stay
		for _, f := range rec.Fields[:first] {
			if slices.Contains(rest, f) {
				pos++
			}
		}
		rec.Fields = slices.Insert(rest, pos, &Field{Name: s.To, Type: &FieldType{Kind: String}})
	}
	return ""
}
