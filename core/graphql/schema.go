package graphql

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/shoaldb/shoal/core/model"
)

// Schema is the GraphQL schema of a model: its SDL, loaded and checked by
// gqlparser, and what each root field does. Build one per model revision
// and keep it: building loads the SDL, which takes longer than most
// queries.
type Schema struct {
	model *model.Model
	sdl   string
	ast   *ast.Schema

	get, list, insert, put, update, remove map[string]*model.Type // root field name → type

	services     map[string]*Service // the services served, by name
	serviceNames []string            // their names, sorted
	leftOut      []ServiceError      // the services left out, by name
}

// NewSchema builds the schema of m's latest versions, with the services
// given as fields of Query and Mutation. It fails when the generated
// names collide (a type named like another's generated type,
// CustomerWhere next to Customer): the error is gqlparser's, naming the
// duplicate. A service that cannot be served with m (its name is a
// generated field's; a type it takes, returns, reads or writes is not in
// the schema, or not of the right kind; a default that does not suit
// its argument) is left out, and ServiceErrors says why; so is a second
// service of a name.
func NewSchema(m *model.Model, services ...Service) (*Schema, error) {
	s := &Schema{
		model: m, sdl: SDL(m),
		get: map[string]*model.Type{}, list: map[string]*model.Type{},
		insert: map[string]*model.Type{}, put: map[string]*model.Type{}, update: map[string]*model.Type{}, remove: map[string]*model.Type{},
	}
	for _, t := range m.Types {
		s.get[t.Name] = t
		s.list[plural(t.Name)] = t
		s.insert["insert"+t.Name] = t
		s.put["put"+t.Name] = t
		s.update["update"+t.Name] = t
		s.remove["delete"+t.Name] = t
	}
	sch, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: s.sdl, BuiltIn: false})
	if err != nil {
		return nil, fmt.Errorf("graphql: loading the schema of the model: %w", err)
	}
	s.ast = sch
	if len(services) > 0 {
		s.addServices(services)
	}
	return s, nil
}

// addServices adds the services that can be served to the schema, and
// notes why the others cannot.
func (s *Schema) addServices(services []Service) {
	sorted := slices.Clone(services)
	slices.SortStableFunc(sorted, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	var ok []*Service
	for i := range sorted {
		svc := &sorted[i]
		if i > 0 && sorted[i-1].Name == svc.Name {
			s.leftOut = append(s.leftOut, ServiceError{Service: svc.Name, Err: errors.New("a service of this name comes before it")})
			continue
		}
		if err := s.checkServiceTypes(s.ast, *svc); err != nil {
			s.leftOut = append(s.leftOut, ServiceError{Service: svc.Name, Err: err})
			continue
		}
		ok = append(ok, svc)
	}
	load := func(svcs []*Service) (string, *ast.Schema, error) {
		text := sdl(s.model, svcs)
		sch, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: text, BuiltIn: false})
		return text, sch, err
	}
	text, sch, err := load(ok)
	if err != nil {
		// What checkServiceTypes cannot see (a default that does not
		// suit its argument): find the services at fault one by one.
		var good []*Service
		for _, svc := range ok {
			if _, _, err := load(append(slices.Clone(good), svc)); err != nil {
				s.leftOut = append(s.leftOut, ServiceError{Service: svc.Name, Err: err})
				continue
			}
			good = append(good, svc)
		}
		ok = good
		text, sch, err = load(ok)
		if err != nil {
			// Each loaded on its own but not all together: none is
			// served rather than a schema that does not load.
			for _, svc := range ok {
				s.leftOut = append(s.leftOut, ServiceError{Service: svc.Name, Err: err})
			}
			ok = nil
			text, sch = s.sdl, s.ast
		}
	}
	slices.SortStableFunc(s.leftOut, func(a, b ServiceError) int { return strings.Compare(a.Service, b.Service) })
	s.sdl, s.ast = text, sch
	s.services = map[string]*Service{}
	for _, svc := range ok {
		s.services[svc.Name] = svc
		s.serviceNames = append(s.serviceNames, svc.Name)
	}
}

// SDL returns the schema's SDL (what SDL(m) gives for its model).
func (s *Schema) SDL() string { return s.sdl }

// Model returns the model the schema was built from.
func (s *Schema) Model() *model.Model { return s.model }

// The shared names of the schema: scalars, page info, sort direction and
// the filters of each kind of value.
const (
	scalarInt64     = "Int64"
	scalarDecimal   = "Decimal"
	scalarTimestamp = "Timestamp"
	scalarBytes     = "Bytes"
	scalarJSON      = "JSON"
)

// shared is the part of the SDL every model's schema has.
const shared = `"A 64-bit integer: a JSON number (or, as input, a string of digits)."
scalar Int64

"A decimal number as text, exact (\"12.50\" is written \"12.5\")."
scalar Decimal

"A time as RFC 3339 text, in UTC."
scalar Timestamp

"Bytes as standard base64 text."
scalar Bytes

"Any JSON value: maps, and refs to types with a composite key."
scalar JSON

"Where a connection's page ends."
type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
}

enum SortDirection {
  ASC
  DESC
}

input BooleanFilter {
  eq: Boolean
  in: [Boolean!]
  ne: Boolean
}

input BytesFilter {
  eq: Bytes
  in: [Bytes!]
  ne: Bytes
}

input DecimalFilter {
  eq: Decimal
  ge: Decimal
  gt: Decimal
  in: [Decimal!]
  le: Decimal
  lt: Decimal
  ne: Decimal
}

input FloatFilter {
  eq: Float
  ge: Float
  gt: Float
  in: [Float!]
  le: Float
  lt: Float
  ne: Float
}

input Int64Filter {
  eq: Int64
  ge: Int64
  gt: Int64
  in: [Int64!]
  le: Int64
  lt: Int64
  ne: Int64
}

"A ref compared by its key written as text (composite keys joined by commas)."
input RefFilter {
  eq: String
  in: [String!]
  ne: String
}

input StringFilter {
  eq: String
  ge: String
  gt: String
  in: [String!]
  le: String
  lt: String
  ne: String
  prefix: String
}

input TimestampFilter {
  eq: Timestamp
  ge: Timestamp
  gt: Timestamp
  in: [Timestamp!]
  le: Timestamp
  lt: Timestamp
  ne: Timestamp
}
`

// keySort is the TSort value that sorts by the primary key.
const keySort = "_key"

// SDL returns the GraphQL schema of m's latest versions, definitions
// sorted by name and fields by name (arguments of key lookups in key
// order), so that equal models give equal text. The package doc has the
// mapping.
func SDL(m *model.Model) string { return sdl(m, nil) }

// sdl is SDL with the services' fields added to Query and Mutation.
func sdl(m *model.Model, services []*Service) string {
	b := &sdlBuilder{m: m, defs: map[string]string{}}
	var query, mutation []string
	query = append(query, "  \"The schema as SDL.\"\n  _sdl: String!")
	for _, t := range m.Types {
		b.objectType(t)
		keyArgs := b.keyArgs(t)
		query = append(query,
			fmt.Sprintf("  %s(%s): %s", t.Name, keyArgs, t.Name),
			fmt.Sprintf("  %s(where: %sWhere, orderBy: %sOrder, first: Int, after: String): %sConnection!", plural(t.Name), t.Name, t.Name, t.Name))
		mutation = append(mutation,
			fmt.Sprintf("  insert%s(object: %sInput!): %s", t.Name, t.Name, t.Name),
			fmt.Sprintf("  put%s(object: %sInput!, ifRevision: Int64): %s", t.Name, t.Name, t.Name),
			fmt.Sprintf("  update%s(%s, patch: %sPatch!, ifRevision: Int64): %s", t.Name, keyArgs, t.Name, t.Name),
			fmt.Sprintf("  delete%s(%s, ifRevision: Int64): %s", t.Name, keyArgs, t.Name))
	}
	for _, svc := range services {
		if svc.Mutation {
			mutation = append(mutation, serviceLine(svc))
		} else {
			query = append(query, serviceLine(svc))
		}
	}
	slices.SortFunc(query, compareField)
	b.defs["Query"] = "type Query {\n" + strings.Join(query, "\n") + "\n}\n"
	if len(mutation) > 0 {
		slices.SortFunc(mutation, compareField)
		b.defs["Mutation"] = "type Mutation {\n" + strings.Join(mutation, "\n") + "\n}\n"
	}
	var out strings.Builder
	out.WriteString(shared)
	names := make([]string, 0, len(b.defs))
	for name := range b.defs { //detlint:unordered sorted below
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		out.WriteString("\n" + b.defs[name])
	}
	return out.String()
}

// compareField orders field lines by the field's name.
func compareField(a, b string) int {
	return strings.Compare(fieldName(a), fieldName(b))
}

func fieldName(line string) string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "\"") {
		_, line, _ = strings.Cut(line, "\n")
		line = strings.TrimSpace(line)
	}
	if i := strings.IndexAny(line, "(:"); i >= 0 {
		return line[:i]
	}
	return line
}

// plural names the listing of a type: Customer → Customers, Address →
// Addresses, Category → Categories.
func plural(name string) string {
	switch {
	case strings.HasSuffix(name, "s"), strings.HasSuffix(name, "x"), strings.HasSuffix(name, "z"),
		strings.HasSuffix(name, "ch"), strings.HasSuffix(name, "sh"):
		return name + "es"
	case len(name) > 1 && strings.HasSuffix(name, "y") && !strings.ContainsRune("aeiouAEIOU", rune(name[len(name)-2])):
		return name[:len(name)-1] + "ies"
	}
	return name + "s"
}

var gqlName = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]*$`)

// enumNames reports whether every value of an enum can be a GraphQL enum
// value; an enum with one that cannot is served as String.
func enumNames(values []string) bool {
	for _, v := range values {
		if !gqlName.MatchString(v) || v == "true" || v == "false" || v == "null" || strings.HasPrefix(v, "__") {
			return false
		}
	}
	return true
}

type sdlBuilder struct {
	m    *model.Model
	defs map[string]string
}

// latestFields returns the fields of t's latest version sorted by name.
func latestFields(t *model.Type) []*model.Field {
	return sortedFields(t.Versions[len(t.Versions)-1].Fields)
}

func sortedFields(fs []*model.Field) []*model.Field {
	out := slices.Clone(fs)
	slices.SortFunc(out, func(a, b *model.Field) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// keyArgs writes the arguments that name one object of t: its key
// fields, in key order, non-null.
func (b *sdlBuilder) keyArgs(t *model.Type) string {
	latest := t.Versions[len(t.Versions)-1]
	args := make([]string, 0, len(t.Key))
	for _, name := range t.Key {
		f, _ := latest.Field(name)
		args = append(args, name+": "+b.inputType(f.Type, t.Name+"_"+name, "Input")+"!")
	}
	return strings.Join(args, ", ")
}

// objectType adds T and the types it needs: T_Version, TConnection,
// TEdge, TInput, TPatch, TWhere, TOrder, TSort, and those of its records
// and enums.
func (b *sdlBuilder) objectType(t *model.Type) {
	n := t.Name
	var lines []string
	for _, f := range latestFields(t) {
		lines = append(lines, "  "+f.Name+": "+b.outputType(f.Type, n+"_"+f.Name))
	}
	lines = append(lines,
		"  \"The model version of the object's shape.\"\n  _version: Int!",
		"  \"The log index of the write that last changed the object; updates and deletes may be conditional on it.\"\n  _revision: Int64!",
		fmt.Sprintf("  \"The object's kept previous versions, oldest first (at most %d).\"\n  _history: [%s_Version!]!", t.History, n))
	for _, r := range t.Relations {
		switch r.Kind {
		case model.OneToMany:
			lines = append(lines, fmt.Sprintf("  %s(where: %sWhere, orderBy: %sOrder, first: Int, after: String): %sConnection!", r.Name, r.Type, r.Type, r.Type))
		default:
			lines = append(lines, fmt.Sprintf("  %s: %s", r.Name, r.Type))
		}
	}
	slices.SortFunc(lines, compareField)
	b.defs[n] = "type " + n + " {\n" + strings.Join(lines, "\n") + "\n}\n"

	b.defs[n+"_Version"] = fmt.Sprintf("\"A kept previous version of %s.\"\ntype %s_Version {\n"+
		"  \"The object as it was, in the latest shape; null when it does not upgrade to it.\"\n  object: %s\n"+
		"  revision: Int64!\n  version: Int!\n}\n", article(n), n, n)
	b.defs[n+"Connection"] = fmt.Sprintf("type %sConnection {\n  edges: [%sEdge!]!\n  pageInfo: PageInfo!\n}\n", n, n)
	b.defs[n+"Edge"] = fmt.Sprintf("type %sEdge {\n  cursor: String!\n  node: %s!\n}\n", n, n)

	// Input: every field; those that are nullable or have a default may
	// be left out. Patch: every field but the key's, all optional.
	var in, patch []string
	for _, f := range latestFields(t) {
		typ := b.inputType(f.Type, n+"_"+f.Name, "Input")
		if !f.Type.Nullable && !f.HasDefault {
			typ += "!"
		}
		in = append(in, "  "+f.Name+": "+typ)
		if !slices.Contains(t.Key, f.Name) {
			patch = append(patch, "  "+f.Name+": "+b.inputType(f.Type, n+"_"+f.Name, "Patch"))
		}
	}
	b.defs[n+"Input"] = "input " + n + "Input {\n" + strings.Join(in, "\n") + "\n}\n"
	if len(patch) == 0 {
		patch = append(patch, "  \"The type has no field but its key's: a patch changes nothing.\"\n  _none: Boolean")
	}
	b.defs[n+"Patch"] = "\"A JSON merge patch: a field left out keeps its value, null clears it.\"\ninput " + n + "Patch {\n" + strings.Join(patch, "\n") + "\n}\n"

	where := b.whereFields(t.Name, latestFields(t))
	where = append(where, fmt.Sprintf("  and: [%sWhere!]", n), fmt.Sprintf("  or: [%sWhere!]", n))
	slices.SortFunc(where, compareField)
	b.defs[n+"Where"] = "input " + n + "Where {\n" + strings.Join(where, "\n") + "\n}\n"

	sorts := []string{"  " + keySort}
	for _, ix := range t.Indexes {
		if ix.Name != keySort {
			sorts = append(sorts, "  "+ix.Name)
		}
	}
	slices.Sort(sorts)
	b.defs[n+"Sort"] = "enum " + n + "Sort {\n" + strings.Join(sorts, "\n") + "\n}\n"
	b.defs[n+"Order"] = fmt.Sprintf("input %sOrder {\n  by: %sSort! = %s\n  direction: SortDirection! = ASC\n}\n", n, n, keySort)
}

// whereFields writes the filter inputs of the fields that take filters:
// scalars, enums, refs to a type with a one-field key, and records that
// hold such fields.
func (b *sdlBuilder) whereFields(prefix string, fields []*model.Field) []string {
	var lines []string
	for _, f := range fields {
		if typ := b.filterType(f.Type, prefix+"_"+f.Name); typ != "" {
			lines = append(lines, "  "+f.Name+": "+typ)
		}
	}
	return lines
}

// filterType names the filter input of a field of type ft at name, or ""
// when it takes none.
func (b *sdlBuilder) filterType(ft *model.FieldType, name string) string {
	switch ft.Kind {
	case model.String:
		return "StringFilter"
	case model.Int:
		return "Int64Filter"
	case model.Float:
		return "FloatFilter"
	case model.Bool:
		return "BooleanFilter"
	case model.Bytes:
		return "BytesFilter"
	case model.Timestamp:
		return "TimestampFilter"
	case model.Decimal:
		return "DecimalFilter"
	case model.Enum:
		if !enumNames(ft.Values) {
			return "StringFilter"
		}
		b.enumType(ft, name)
		b.defs[name+"Filter"] = fmt.Sprintf("input %sFilter {\n  eq: %s\n  in: [%s!]\n  ne: %s\n}\n", name, name, name, name)
		return name + "Filter"
	case model.Ref:
		if _, keys := keyFields(b.m, ft); len(keys) != 1 {
			return ""
		}
		return "RefFilter"
	case model.Record:
		lines := b.whereFields(name, sortedFields(ft.Fields))
		if len(lines) == 0 {
			return ""
		}
		b.defs[name+"Where"] = "input " + name + "Where {\n" + strings.Join(lines, "\n") + "\n}\n"
		return name + "Where"
	}
	return ""
}

// outputType writes the GraphQL type of a field of type ft, whose own
// types (enums, records) are named name.
func (b *sdlBuilder) outputType(ft *model.FieldType, name string) string {
	s := b.outputBase(ft, name)
	if !ft.Nullable {
		s += "!"
	}
	return s
}

func (b *sdlBuilder) outputBase(ft *model.FieldType, name string) string {
	switch ft.Kind {
	case model.Enum:
		if !enumNames(ft.Values) {
			return "String"
		}
		b.enumType(ft, name)
		return name
	case model.Array:
		return "[" + b.outputType(ft.Elem, name) + "]"
	case model.Record:
		var lines []string
		for _, f := range sortedFields(ft.Fields) {
			lines = append(lines, "  "+f.Name+": "+b.outputType(f.Type, name+"_"+f.Name))
		}
		b.defs[name] = "type " + name + " {\n" + strings.Join(lines, "\n") + "\n}\n"
		return name
	case model.Ref:
		return b.refType(ft)
	}
	return scalarName(ft.Kind)
}

// refType is the type of a ref's value: its target's key field's type,
// or JSON for a composite key.
func (b *sdlBuilder) refType(ft *model.FieldType) string {
	target, keys := keyFields(b.m, ft)
	if len(keys) != 1 {
		return scalarJSON
	}
	k := keys[0]
	switch k.Type.Kind {
	case model.Enum:
		return b.outputBase(k.Type, target.Name+"_"+k.Name)
	case model.Ref:
		return b.refType(k.Type)
	}
	return scalarName(k.Type.Kind)
}

// inputType writes the GraphQL input type of a field of type ft (without
// its "!": the caller decides), whose records become input types named
// name+suffix ("Input", or "Patch" for merge patches).
func (b *sdlBuilder) inputType(ft *model.FieldType, name, suffix string) string {
	switch ft.Kind {
	case model.Enum:
		if !enumNames(ft.Values) {
			return "String"
		}
		b.enumType(ft, name)
		return name
	case model.Array:
		// An array is replaced as a whole, by a patch too.
		elem := b.inputType(ft.Elem, name, "Input")
		if !ft.Elem.Nullable {
			elem += "!"
		}
		return "[" + elem + "]"
	case model.Record:
		var lines []string
		for _, f := range sortedFields(ft.Fields) {
			typ := b.inputType(f.Type, name+"_"+f.Name, suffix)
			if suffix == "Input" && !f.Type.Nullable && !f.HasDefault {
				typ += "!"
			}
			lines = append(lines, "  "+f.Name+": "+typ)
		}
		b.defs[name+suffix] = "input " + name + suffix + " {\n" + strings.Join(lines, "\n") + "\n}\n"
		return name + suffix
	case model.Ref:
		return b.refType(ft)
	}
	return scalarName(ft.Kind)
}

func (b *sdlBuilder) enumType(ft *model.FieldType, name string) {
	b.defs[name] = "enum " + name + " {\n  " + strings.Join(ft.Values, "\n  ") + "\n}\n"
}

func scalarName(k model.Kind) string {
	switch k {
	case model.String:
		return "String"
	case model.Int:
		return scalarInt64
	case model.Float:
		return "Float"
	case model.Bool:
		return "Boolean"
	case model.Bytes:
		return scalarBytes
	case model.Timestamp:
		return scalarTimestamp
	case model.Decimal:
		return scalarDecimal
	}
	return scalarJSON // map
}

// keyFields returns the type a ref names and its key fields. The model
// resolved every ref when it parsed.
func keyFields(m *model.Model, ft *model.FieldType) (*model.Type, []*model.Field) {
	t, ok := m.Type(ft.Ref)
	if !ok {
		return nil, nil
	}
	latest := t.Versions[len(t.Versions)-1]
	out := make([]*model.Field, 0, len(t.Key))
	for _, name := range t.Key {
		if f, ok := latest.Field(name); ok {
			out = append(out, f)
		}
	}
	return t, out
}

// article writes a type's name after "a" or "an".
func article(name string) string {
	if strings.ContainsRune("AEIOUaeiou", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}
