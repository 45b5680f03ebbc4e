package model

import (
	"slices"
	"strconv"
	"strings"
)

// Object is a normalized object: field names to values, where a value is
// nil, a string, an int64, a float64, a bool, a []any or a
// map[string]any (records and maps). Bytes, timestamps, decimals and
// enums are held in their canonical string forms, so that an Object is
// plain JSON and Decode(Encode(o)) gives o back.
type Object = map[string]any

// Model is a parsed, whole-model-validated declaration.
type Model struct {
	Types []*Type // sorted by name

	source []byte
	byName map[string]*Type
}

// Type is one declared type of object.
type Type struct {
	Name      string
	Key       []string // the primary key's fields, in order
	Affinity  string   // the field whose value picks the bucket
	History   int      // previous versions of each object kept
	Indexes   []Index
	Relations []Relation
	Versions  []*Version // Versions[i].Number == i+1

	// keyShape is the type a ref to this type holds: the key field's
	// type for a one-field key, a record of the key fields otherwise.
	// nil while unresolved (a cyclic or broken key).
	keyShape *FieldType
	keyState int
}

// Version is one version of a type's shape, with the migration that
// brings objects of the version before it here (none for version 1).
type Version struct {
	Number    int
	Fields    []*Field
	Migration []Step

	record     *FieldType // the fields as a record, for validation
	incomplete bool       // some fields failed to parse: checks against them would only echo that
}

// Field is a field of a version or of a nested record.
type Field struct {
	Name       string
	Type       *FieldType
	HasDefault bool
	Default    any // normalized; meaningful when HasDefault
}

// Kind is what a FieldType holds.
type Kind string

// The kinds of field types. The first seven are scalars.
const (
	String    Kind = "string"
	Int       Kind = "int"
	Float     Kind = "float"
	Bool      Kind = "bool"
	Bytes     Kind = "bytes"
	Timestamp Kind = "timestamp"
	Decimal   Kind = "decimal"
	Enum      Kind = "enum"
	Array     Kind = "array"
	Record    Kind = "record"
	Map       Kind = "map"
	Ref       Kind = "ref"
)

var scalarKinds = []string{"bool", "bytes", "decimal", "float", "int", "string", "timestamp"}

// IsScalar reports whether k is one of the seven scalar kinds.
func (k Kind) IsScalar() bool { return slices.Contains(scalarKinds, string(k)) }

// FieldType is a type expression, resolved.
type FieldType struct {
	Kind     Kind
	Nullable bool
	Values   []string   // enum: the allowed values, in declaration order
	Elem     *FieldType // array and map: the elements' type
	Fields   []*Field   // record: its fields, in declaration order
	Ref      string     // ref: the referenced type's name

	target *Type // ref: the referenced type
}

// Index is a secondary index over fields of a type's latest version.
type Index struct {
	Name   string
	Fields []string
	Unique bool
}

// The kinds of relations.
const (
	OneToOne  = "one-to-one"
	OneToMany = "one-to-many"
	ManyToOne = "many-to-one"
)

var relationKinds = []string{OneToMany, OneToOne, ManyToOne}

// Relation links a type to another: objects of Type whose To fields equal
// this object's From fields.
type Relation struct {
	Name, Kind, Type string
	From, To         []string
}

// The operations of migration steps.
const (
	OpAdd     = "add"
	OpRename  = "rename"
	OpDrop    = "drop"
	OpConvert = "convert"
	OpSplit   = "split"
	OpMerge   = "merge"
	OpFunc    = "func"
)

var stepOps = []string{OpAdd, OpConvert, OpDrop, OpFunc, OpMerge, OpRename, OpSplit}

// Step is one step of a migration. Which fields are set depends on Op:
// add (Field, Type, Default), rename (From, To), drop (Field), convert
// (Field, Type, Default), split (Field, Into, Separator), merge (Fields,
// To, Separator), func (Func). Field paths may be dotted to reach into
// nested records.
type Step struct {
	Op         string
	Field      string
	From, To   string
	Type       *FieldType
	HasDefault bool
	Default    any
	Into       []string
	Fields     []string
	Separator  string
	Func       string
}

// Source returns the YAML the model was parsed from.
func (m *Model) Source() []byte { return m.source }

// Type returns the type named name.
func (m *Model) Type(name string) (*Type, bool) {
	t, ok := m.byName[name]
	return t, ok
}

// Latest returns the number of the type's latest version.
func (t *Type) Latest() int { return len(t.Versions) }

// Version returns version n of the type.
func (t *Type) Version(n int) (*Version, bool) {
	if n < 1 || n > len(t.Versions) {
		return nil, false
	}
	return t.Versions[n-1], true
}

// Field returns the version's field named name.
func (v *Version) Field(name string) (*Field, bool) {
	for _, f := range v.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// String writes the type expression as a person reads it: string?,
// enum(basic, gold), array of int, record {zip: string}, map of float,
// ref Customer.
func (ft *FieldType) String() string {
	var b strings.Builder
	ft.write(&b)
	return b.String()
}

func (ft *FieldType) write(b *strings.Builder) {
	switch ft.Kind {
	case Enum:
		b.WriteString("enum(" + strings.Join(ft.Values, ", ") + ")")
	case Array, Map:
		b.WriteString(string(ft.Kind) + " of ")
		if ft.Elem.Nullable || ft.Elem.Kind == Array || ft.Elem.Kind == Map {
			b.WriteString("(")
			ft.Elem.write(b)
			b.WriteString(")")
		} else {
			ft.Elem.write(b)
		}
	case Record:
		b.WriteString("record {")
		for i, f := range ft.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.Name + ": ")
			f.Type.write(b)
		}
		b.WriteString("}")
	case Ref:
		b.WriteString("ref " + ft.Ref)
	default:
		b.WriteString(string(ft.Kind))
	}
	if ft.Nullable {
		b.WriteString("?")
	}
}

// name is the type's kind as a short word for messages (enum rather than
// its values), with ? when nullable.
func (ft *FieldType) name() string {
	s := string(ft.Kind)
	if ft.Kind == Ref {
		s = "ref " + ft.Ref
	}
	if ft.Nullable {
		s += "?"
	}
	return s
}

// field returns the record's field named name.
func (ft *FieldType) field(name string) *Field {
	for _, f := range ft.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// fieldNames returns the record's field names in declaration order.
func (ft *FieldType) fieldNames() []string {
	names := make([]string, len(ft.Fields))
	for i, f := range ft.Fields {
		names[i] = f.Name
	}
	return names
}

// withNullable returns a copy of ft with Nullable set to n.
func (ft *FieldType) withNullable(n bool) *FieldType {
	c := *ft
	c.Nullable = n
	return &c
}

// resolved is the type a value of ft actually holds: a ref's key shape
// (with the ref's nullability), ft itself otherwise. nil when a ref's
// target has no usable key.
func (ft *FieldType) resolved() *FieldType {
	for ft != nil && ft.Kind == Ref {
		if ft.target == nil || ft.target.keyShape == nil {
			return nil
		}
		ft = ft.target.keyShape.withNullable(ft.Nullable)
	}
	return ft
}

// equal reports whether a and b are the same type expression.
func equal(a, b *FieldType) bool {
	return differ(a, b, "", 0) == ""
}

// differ describes the first difference between a (what a migration
// produces) and b (what a version declares), for a field at path, or
// returns "" when they are equal.
func differ(a, b *FieldType, path string, next int) string {
	v := "version " + strconv.Itoa(next)
	if a.Kind != b.Kind || a.Nullable != b.Nullable || (a.Kind == Ref && a.Ref != b.Ref) {
		return "gives field " + quote(path) + " the type " + a.name() + " but " + v + " declares " + b.name()
	}
	switch a.Kind {
	case Enum:
		if !slices.Equal(a.Values, b.Values) {
			return "gives field " + quote(path) + " the values " + strings.Join(a.Values, ", ") + " but " + v + " declares " + strings.Join(b.Values, ", ")
		}
	case Array, Map:
		return differ(a.Elem, b.Elem, path+"[]", next)
	case Record:
		return differFields(a.Fields, b.Fields, path+".", next)
	}
	return ""
}

// differFields compares two field lists as sets of names.
func differFields(a, b []*Field, prefix string, next int) string {
	v := "version " + strconv.Itoa(next)
	for _, fb := range b {
		if !slices.ContainsFunc(a, func(f *Field) bool { return f.Name == fb.Name }) {
			return "does not produce field " + quote(prefix+fb.Name) + ", which " + v + " declares"
		}
	}
	for _, fa := range a {
		i := slices.IndexFunc(b, func(f *Field) bool { return f.Name == fa.Name })
		if i < 0 {
			return "produces field " + quote(prefix+fa.Name) + ", which " + v + " does not declare"
		}
		if d := differ(fa.Type, b[i].Type, prefix+fa.Name, next); d != "" {
			return d
		}
	}
	return ""
}
