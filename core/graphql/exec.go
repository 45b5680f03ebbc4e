package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/shoaldb/shoal/core/model"
)

// Limits bound one request. A zero field takes its default.
type Limits struct {
	// MaxDepth bounds how deep fields nest (a root field is 1 deep);
	// default 12.
	MaxDepth int
	// MaxCost bounds the query's cost (the package doc has the model);
	// default 10000.
	MaxCost int
	// MaxCalls bounds the Data calls of one request; default 1000. A
	// field that would make one more fails with an error at its path.
	MaxCalls int
	// MaxObjectsRead bounds the objects the Data calls of one request
	// answer (a page's items, a history's versions, a found object);
	// default 50000. The request that reads more fails as a whole.
	MaxObjectsRead int
	// MaxResponseBytes bounds the response's data, counted as each value
	// is completed; default 16 MiB. The request whose data grows past
	// it fails as a whole, and resolves no field after.
	MaxResponseBytes int
}

// The defaults and bounds of a request.
const (
	DefaultMaxDepth = 12
	DefaultMaxCost  = 10000
	DefaultMaxCalls = 1000

	DefaultMaxObjectsRead   = 50000
	DefaultMaxResponseBytes = 16 << 20

	// DefaultFirst is a connection's page when first is not given;
	// MaxFirst bounds first.
	DefaultFirst = 20
	MaxFirst     = 1000
	// MaxQueryBytes bounds a query document, and maxTokens its tokens.
	MaxQueryBytes = 64 << 10
	maxTokens     = 10000
	// maxRounds bounds the List calls of one page of a connection, and
	// maxBatch is the limit each asks for while the where has an or that
	// storage cannot evaluate.
	maxRounds = 16
	maxBatch  = 100
	// maxAttempts bounds the read-patch-write rounds of an update or
	// delete that another write races with.
	maxAttempts = 5
	// maxVisits bounds the fields the cost walk visits (fragments spread
	// many times multiply them).
	maxVisits = 100000
	// maxSelections bounds the selections of a document (those of its
	// fragments counted once each), which validation compares pairwise.
	maxSelections = 2000
	// maxMutations bounds the mutation fields of one request.
	maxMutations = 100
)

// Request is one GraphQL request.
type Request struct {
	Schema        *Schema
	Query         string
	OperationName string
	// Variables as decoded from JSON; numbers may be float64 or
	// json.Number (decode with UseNumber to keep 64-bit integers exact).
	Variables map[string]any
	Data      Data
	Rights    Rights // nil: everything is allowed
	Limits    Limits
	// Context bounds the request's work: once it is done, Execute
	// resolves no more fields and fails the request. nil: never done.
	Context context.Context
	// Document, if set, is Query prepared on Schema (Prepare), run
	// without parsing or validating it again.
	Document *Document
}

// Response is a GraphQL response: Data is absent (nil) when the request
// failed before execution, and otherwise the result, null where an error
// made it so; Errors name their locations in the query and, for field
// errors, the path of the field.
type Response struct {
	Data   json.RawMessage `json:"data,omitempty"`
	Errors gqlerror.List   `json:"errors,omitempty"`
}

// Execute parses, validates, measures and runs the request against
// req.Data. It never panics on any query or variables, and its work is
// bounded by req.Limits. Given a Document (Prepare), it runs it without
// parsing or validating again.
func Execute(req Request) Response {
	ctx := req.Context
	if ctx == nil {
		ctx = context.Background()
	}
	fail := func(err *gqlerror.Error) Response { return Response{Errors: gqlerror.List{err}} }
	if req.Schema == nil || req.Data == nil {
		return fail(gqlerror.Errorf("graphql: a request needs a schema and data"))
	}
	var doc *ast.QueryDocument
	switch d := req.Document; {
	case d != nil && d.schema == req.Schema && d.query == req.Query:
		doc = d.doc
	case d != nil:
		return fail(gqlerror.Errorf("graphql: the request's document is not its query's on its schema"))
	default:
		d, errs := prepare(ctx, req.Schema, req.Query)
		if errs != nil {
			return Response{Errors: errs}
		}
		doc = d.doc
	}
	var op *ast.OperationDefinition
	switch {
	case req.OperationName != "":
		op = doc.Operations.ForName(req.OperationName)
		if op == nil {
			return fail(gqlerror.Errorf("the query has no operation named %q", req.OperationName))
		}
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		return fail(gqlerror.Errorf("the query has %d operations: name one with operationName", len(doc.Operations)))
	}
	if op.Operation == ast.Subscription {
		return fail(gqlerror.ErrorPosf(op.Position, "subscriptions are not supported"))
	}
	vars, err := validator.VariableValues(req.Schema.ast, op, req.Variables)
	if err != nil {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			return fail(ge)
		}
		return fail(gqlerror.Wrap(err))
	}
	if err := ctx.Err(); err != nil {
		return fail(gqlerror.Errorf("%s", timeUp(err)))
	}
	e := newExecutor(req.Schema, req.Data, req.Rights, vars, doc, req.Limits, ctx)
	if ge := e.measure(op); ge != nil {
		return fail(ge)
	}
	root := ast.NamedType("Query", nil)
	var parent any = queryRoot{}
	if op.Operation == ast.Mutation {
		root = ast.NamedType("Mutation", nil)
		parent = mutationRoot{}
		if n := len(e.collect("Mutation", op.SelectionSet, nil, nil)); n > maxMutations {
			return fail(gqlerror.ErrorPosf(op.Position, "the request has %d mutation fields, over the limit of %d", n, maxMutations))
		}
	}
	out, _ := e.complete(root, parent, []*ast.Field{{SelectionSet: op.SelectionSet}}, nil)
	if e.halt != nil {
		// What was resolved before is dropped: the response would be
		// partial in ways its errors could not say.
		return Response{Data: json.RawMessage("null"), Errors: gqlerror.List{e.halt}}
	}
	var b bytes.Buffer
	writeJSON(&b, out)
	return Response{Data: b.Bytes(), Errors: e.errs}
}

// Document is a query parsed and validated against a schema, which
// requests may share (its execution only reads it): validating a query
// costs more than running a lookup (BenchmarkExecuteLookup), and clients
// send the same few queries with other variables.
type Document struct {
	schema *Schema
	query  string
	doc    *ast.QueryDocument
}

// Prepare parses and validates query against s, or says why it is no
// query of s, in the GraphQL response format.
func Prepare(s *Schema, query string) (*Document, gqlerror.List) {
	if s == nil {
		return nil, gqlerror.List{gqlerror.Errorf("graphql: a query needs a schema")}
	}
	return prepare(context.Background(), s, query)
}

func prepare(ctx context.Context, s *Schema, query string) (*Document, gqlerror.List) {
	fail := func(err *gqlerror.Error) (*Document, gqlerror.List) { return nil, gqlerror.List{err} }
	if len(query) > MaxQueryBytes {
		return fail(gqlerror.Errorf("the query is %d bytes, over the limit of %d", len(query), MaxQueryBytes))
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Name: "query", Input: query}, maxTokens)
	if err != nil {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			return fail(ge)
		}
		return fail(gqlerror.Wrap(err))
	}
	if ge := countSelections(doc); ge != nil {
		return fail(ge)
	}
	if err := ctx.Err(); err != nil {
		return fail(gqlerror.Errorf("%s", timeUp(err)))
	}
	if errs := validator.ValidateWithRules(s.ast, doc, nil); len(errs) > 0 {
		return nil, errs
	}
	return &Document{schema: s, query: query, doc: doc}, nil
}

// newExecutor makes the executor of one operation of doc: nil rights
// allow everything, a zero limit takes its default, and a nil context is
// never done.
func newExecutor(s *Schema, data Data, rights Rights, vars map[string]any, doc *ast.QueryDocument, lim Limits, ctx context.Context) *executor {
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultMaxDepth
	}
	if lim.MaxCost <= 0 {
		lim.MaxCost = DefaultMaxCost
	}
	if lim.MaxCalls <= 0 {
		lim.MaxCalls = DefaultMaxCalls
	}
	if lim.MaxObjectsRead <= 0 {
		lim.MaxObjectsRead = DefaultMaxObjectsRead
	}
	if lim.MaxResponseBytes <= 0 {
		lim.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if rights == nil {
		rights = allowAll{}
	}
	return &executor{s: s, m: s.model, data: data, rights: rights, vars: vars, doc: doc, lim: lim, ctx: ctx}
}

// timeUp says why a request whose context is done stopped.
func timeUp(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "the request ran out of time"
	}
	return "the request was cancelled"
}

// countSelections refuses a document of more than maxSelections
// selections before validation, whose overlapping-fields rule takes time
// quadratic in them.
func countSelections(doc *ast.QueryDocument) *gqlerror.Error {
	n := 0
	var walk func(ast.SelectionSet) *gqlerror.Error
	walk = func(sel ast.SelectionSet) *gqlerror.Error {
		for _, s := range sel {
			n++
			if n > maxSelections {
				return gqlerror.ErrorPosf(s.GetPosition(), "the query has more than %d fields (fragments counted once each)", maxSelections)
			}
			switch s := s.(type) {
			case *ast.Field:
				if ge := walk(s.SelectionSet); ge != nil {
					return ge
				}
			case *ast.InlineFragment:
				if ge := walk(s.SelectionSet); ge != nil {
					return ge
				}
			}
		}
		return nil
	}
	for _, op := range doc.Operations {
		if ge := walk(op.SelectionSet); ge != nil {
			return ge
		}
	}
	for _, f := range doc.Fragments {
		if ge := walk(f.SelectionSet); ge != nil {
			return ge
		}
	}
	return nil
}

// executor runs one operation.
type executor struct {
	s      *Schema
	m      *model.Model
	data   Data
	rights Rights
	vars   map[string]any
	doc    *ast.QueryDocument
	lim    Limits
	ctx    context.Context
	errs   gqlerror.List
	calls  int
	read   int // objects the Data calls answered
	bytes  int // of the data completed so far
	// halt is the error that fails the whole request (a budget spent,
	// the context done): once set, no field is resolved.
	halt *gqlerror.Error
}

// The values the executor resolves fields on.
type (
	queryRoot    struct{}
	mutationRoot struct{}
	// objValue is an object of a model type.
	objValue struct {
		t  *model.Type
		st Stored
	}
	// histValue is a kept previous version of an object.
	histValue struct {
		t  *model.Type
		pk string
		st Stored
	}
	connValue struct {
		edges []any // of edgeValue
		page  pageInfo
	}
	edgeValue struct {
		node   *objValue
		cursor string
	}
	pageInfo struct {
		hasNext bool
		end     string // "": null
	}
)

// object is a result object, its fields in the order of the query.
type object struct {
	keys []string
	vals []any
}

// call counts one Data call against the budget.
func (e *executor) call() error {
	if err := e.ctx.Err(); err != nil {
		return haltError(timeUp(err))
	}
	if e.calls >= e.lim.MaxCalls {
		return limitError(fmt.Sprintf("the request made %d storage calls, the limit", e.lim.MaxCalls))
	}
	e.calls++
	return nil
}

// readObjects counts n objects a Data call answered against the budget.
func (e *executor) readObjects(n int) error {
	e.read += n
	if e.read > e.lim.MaxObjectsRead {
		return haltError(fmt.Sprintf("the request read more than %d objects, the limit", e.lim.MaxObjectsRead))
	}
	return nil
}

// limitError is the error of a Data call over Limits.MaxCalls: it fails
// its field (a service's too, whatever its function does with it).
type limitError string

func (l limitError) Error() string { return string(l) }

// haltError is an error that fails the whole request, not just its
// field.
type haltError string

func (h haltError) Error() string { return string(h) }

// stop fails the whole request with an error at a field, unless an
// earlier one did.
func (e *executor) stop(f *ast.Field, path ast.Path, msg string) {
	if e.halt != nil {
		return
	}
	e.halt = &gqlerror.Error{Message: msg, Path: clonePath(path)}
	if f.Position != nil {
		e.halt.Locations = []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}
	}
}

// grow counts n bytes of the response's data against the budget.
func (e *executor) grow(f *ast.Field, path ast.Path, n int) bool {
	e.bytes += n
	if e.bytes > e.lim.MaxResponseBytes {
		e.stop(f, path, fmt.Sprintf("the response is over %d bytes, the limit", e.lim.MaxResponseBytes))
		return false
	}
	return true
}

// halted reports whether the request is to stop: a budget is spent, or
// its context is done.
func (e *executor) halted(f *ast.Field, path ast.Path) bool {
	if e.halt == nil {
		if err := e.ctx.Err(); err != nil {
			e.stop(f, path, timeUp(err))
		}
	}
	return e.halt != nil
}

// fieldError records an error at a field.
func (e *executor) fieldError(f *ast.Field, path ast.Path, msg string) {
	ge := &gqlerror.Error{Message: msg, Path: clonePath(path)}
	if f.Position != nil {
		ge.Locations = []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}
	}
	e.errs = append(e.errs, ge)
}

func clonePath(p ast.Path) ast.Path { return append(ast.Path(nil), p...) }

// complete turns a resolved value into the result of a field of type
// typ: ok is false when an error made a non-null value null, which makes
// the nearest nullable position above it null.
func (e *executor) complete(typ *ast.Type, v any, fields []*ast.Field, path ast.Path) (any, bool) {
	out, ok := e.completeValue(typ, v, fields, path)
	if typ.NonNull {
		if ok && out == nil {
			e.fieldError(fields[0], path, "a null value for the non-null type "+typ.String())
		}
		if out == nil {
			return nil, false
		}
	}
	return out, true
}

func (e *executor) completeValue(typ *ast.Type, v any, fields []*ast.Field, path ast.Path) (any, bool) {
	if v == nil {
		return nil, true
	}
	if typ.Elem != nil {
		list, isList := v.([]any)
		if !isList {
			list = []any{v}
		}
		out := make([]any, len(list))
		for i, item := range list {
			o, ok := e.complete(typ.Elem, item, fields, append(clonePath(path), ast.PathIndex(i)))
			if !ok {
				return nil, false
			}
			out[i] = o
		}
		return out, true
	}
	def := e.s.ast.Types[typ.NamedType]
	if def == nil || def.Kind != ast.Object {
		raw, err := json.Marshal(v)
		if err != nil {
			e.fieldError(fields[0], path, "the value does not encode: "+err.Error())
			return nil, false
		}
		if !e.grow(fields[0], path, len(raw)) {
			return nil, false
		}
		return json.RawMessage(raw), true
	}
	var sel ast.SelectionSet
	for _, f := range fields {
		sel = append(sel, f.SelectionSet...)
	}
	return e.executeFields(def, v, sel, path)
}

// executeFields resolves the selected fields of an object.
func (e *executor) executeFields(def *ast.Definition, parent any, sel ast.SelectionSet, path ast.Path) (any, bool) {
	groups := e.collect(def.Name, sel, nil, nil)
	obj := &object{}
	for _, g := range groups {
		p := append(clonePath(path), ast.PathName(g.key))
		f := g.fields[0]
		// A key, its quotes, colon and comma: a thousand empty
		// aliases weigh as much as their names.
		if e.halted(f, p) || !e.grow(f, p, len(g.key)+4) {
			return nil, false
		}
		var out any
		if f.Name == "__typename" {
			raw, _ := json.Marshal(def.Name)
			if !e.grow(f, p, len(raw)) {
				return nil, false
			}
			out = json.RawMessage(raw)
		} else {
			v, err := e.resolve(parent, f, p)
			if h := haltError(""); errors.As(err, &h) {
				e.stop(f, p, err.Error())
				return nil, false
			}
			if err != nil {
				e.resolverError(f, p, err)
				if f.Definition.Type.NonNull {
					return nil, false
				}
			} else {
				var ok bool
				if out, ok = e.complete(f.Definition.Type, v, g.fields, p); !ok {
					return nil, false
				}
			}
		}
		obj.keys = append(obj.keys, g.key)
		obj.vals = append(obj.vals, out)
	}
	return obj, true
}

type fieldGroup struct {
	key    string
	fields []*ast.Field
}

// collect gathers the fields to resolve on an object of type typeName,
// merged by response key, in query order (CollectFields of the spec).
func (e *executor) collect(typeName string, sel ast.SelectionSet, groups []fieldGroup, seen map[string]bool) []fieldGroup {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if !e.included(s.Directives) {
				continue
			}
			key := s.Alias
			if key == "" {
				key = s.Name
			}
			found := false
			for i := range groups {
				if groups[i].key == key {
					groups[i].fields = append(groups[i].fields, s)
					found = true
					break
				}
			}
			if !found {
				groups = append(groups, fieldGroup{key: key, fields: []*ast.Field{s}})
			}
		case *ast.InlineFragment:
			if !e.included(s.Directives) || (s.TypeCondition != "" && s.TypeCondition != typeName) {
				continue
			}
			groups = e.collect(typeName, s.SelectionSet, groups, seen)
		case *ast.FragmentSpread:
			if !e.included(s.Directives) || seen[s.Name] {
				continue
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[s.Name] = true
			def := e.doc.Fragments.ForName(s.Name)
			if def == nil || def.TypeCondition != typeName {
				continue
			}
			groups = e.collect(typeName, def.SelectionSet, groups, seen)
		}
	}
	return groups
}

// included applies @skip and @include.
func (e *executor) included(ds ast.DirectiveList) bool {
	for _, d := range ds {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		arg := d.Arguments.ForName("if")
		if arg == nil {
			continue
		}
		v, _ := e.literal(arg.Value)
		b, _ := v.(bool)
		if d.Name == "skip" && b || d.Name == "include" && !b {
			return false
		}
	}
	return true
}

// args returns a field's arguments, with their defaults, and says which
// were given (a variable without a value is not).
func (e *executor) args(f *ast.Field) map[string]any {
	out := map[string]any{}
	if f.Definition == nil {
		return out
	}
	for _, def := range f.Definition.Arguments {
		if a := f.Arguments.ForName(def.Name); a != nil {
			if v, ok := e.literal(a.Value); ok {
				out[def.Name] = v
				continue
			}
		}
		if def.DefaultValue != nil {
			if v, ok := e.literal(def.DefaultValue); ok {
				out[def.Name] = v
			}
		}
	}
	return out
}

// literal is a value of the query as Go values: numbers as json.Number,
// enums as strings, lists as []any, input objects as map[string]any. ok
// is false for a variable that has no value.
func (e *executor) literal(v *ast.Value) (any, bool) {
	if v == nil {
		return nil, false
	}
	switch v.Kind {
	case ast.Variable:
		if x, ok := e.vars[v.Raw]; ok {
			return x, true
		}
		if v.VariableDefinition != nil && v.VariableDefinition.DefaultValue != nil {
			return e.literal(v.VariableDefinition.DefaultValue)
		}
		return nil, false
	case ast.IntValue, ast.FloatValue:
		return json.Number(v.Raw), true
	case ast.StringValue, ast.BlockValue, ast.EnumValue:
		return v.Raw, true
	case ast.BooleanValue:
		return v.Raw == "true", true
	case ast.NullValue:
		return nil, true
	case ast.ListValue:
		out := make([]any, 0, len(v.Children))
		for _, c := range v.Children {
			x, ok := e.literal(c.Value)
			if !ok {
				x = nil
			}
			out = append(out, x)
		}
		return out, true
	case ast.ObjectValue:
		out := map[string]any{}
		for _, c := range v.Children {
			if x, ok := e.literal(c.Value); ok {
				out[c.Name] = x
			}
		}
		return out, true
	}
	return nil, false
}

// toInt64 reads an integer from a literal or a variable.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x == float64(int64(x)) && x >= -(1<<53) && x <= 1<<53 {
			return int64(x), true
		}
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(x, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// writeJSON writes a completed result.
func writeJSON(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case *object:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			key, _ := json.Marshal(k)
			b.Write(key)
			b.WriteByte(':')
			writeJSON(b, x.vals[i])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, item)
		}
		b.WriteByte(']')
	case json.RawMessage:
		b.Write(x)
	default:
		panic(fmt.Sprintf("graphql: a result of type %T", v))
	}
}
