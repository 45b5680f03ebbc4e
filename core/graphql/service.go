package graphql

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/model"
)

// Service is a field of Query or Mutation served by a Go function
// rather than by the model. core/service registers services by name
// and hands them to NewSchema; tests may make their own. The package
// doc's Services section says how they are served.
type Service struct {
	// Name is the field's name: a lower-case letter, then letters,
	// digits and _, at most MaxServiceName bytes.
	Name string
	// Doc describes the service: the field's description in the SDL.
	Doc string
	// Args are the field's arguments, in the order the SDL lists them.
	Args []ServiceArg
	// Returns is the field's type: a scalar (String, Int, Float,
	// Boolean, ID, Int64, Decimal, Timestamp, Bytes, JSON), an enum of
	// the schema or a type of the model, or a list of them, with !
	// where the value is never null ("Customer", "[Order!]!", "JSON").
	Returns string
	// Mutation puts the field in Mutation: it may write. A query (the
	// default) writes nothing.
	Mutation bool
	// Reads and Writes are the model types the function reads and
	// writes. A caller needs read of the whole of each of Reads
	// (Rights.CanReadWhole: the function sees whole objects, whatever
	// fields the caller's role withholds) and write of each of Writes
	// (Rights.CanWrite, which is of the whole type), and the
	// function's storage serves these types only: a service that reads
	// what it writes (to update it on condition of its revision) names
	// the type in both.
	Reads, Writes []string
	// Func is the function. args holds the arguments given or
	// defaulted, as ServiceArg says; its result is a value of Returns
	// (ServiceCall.Result's doc says which Go values are taken), and its
	// error the field's error.
	Func func(c *ServiceCall, args map[string]any) (any, error)
}

// ServiceArg is an argument of a service. Func receives its value as a
// Go value of its type: String, ID, enums and Decimal (canonical text)
// as string, Int as int, Int64 as int64, Float as float64, Boolean as
// bool, Timestamp as a time.Time in UTC, Bytes as []byte, JSON as
// decoded JSON (numbers as json.Number), lists as []any and input
// objects as map[string]any of their fields given or defaulted. A
// nullable argument that was not given is absent from args. An argument
// with a Default that is given as null (an explicit null in GraphQL or
// in a REST body, ?first=null in a GET) takes its default: Func never
// sees null for an argument that has a default.
type ServiceArg struct {
	Name string
	// Type is a GraphQL input type over the schema: a scalar, an enum,
	// an input type of the model (CustomerInput, OrderWhere), or a list
	// of them, with ! where it is required.
	Type string
	// Default is the value of an argument that is not given, written as
	// a GraphQL literal (20, "open", open for an enum, [1, 2]); ""
	// for none.
	Default string
	// Doc describes the argument in the SDL.
	Doc string
}

// Bounds of a service's declaration.
const (
	MaxServiceName = 64 // bytes of a service's or an argument's name
	MaxServiceArgs = 32 // arguments of one service
	// ServiceCost is what a service field costs beyond its 1: its
	// function's work, which the meter cannot see (its Data calls
	// count in Limits.MaxCalls as they are made).
	ServiceCost = 100
)

var serviceNamePattern = regexp.MustCompile(`^[a-z][A-Za-z0-9_]*$`)

// CheckService checks what a service declares, before any model is
// known: its name, its arguments' names and types as text, its result
// type, its Reads and Writes, and that a query writes nothing. Whether
// the types exist is for NewSchema, which leaves out a service whose
// types a model lacks.
func CheckService(s Service) error {
	if len(s.Name) > MaxServiceName || !serviceNamePattern.MatchString(s.Name) {
		return fmt.Errorf("service %q: a service's name is a lower-case letter, then letters, digits and _ (at most %d bytes)", s.Name, MaxServiceName)
	}
	if s.Func == nil {
		return fmt.Errorf("service %s: no function", s.Name)
	}
	if _, err := parseTypeExpr(s.Returns); err != nil {
		return fmt.Errorf("service %s: returns %q: %w", s.Name, s.Returns, err)
	}
	if len(s.Args) > MaxServiceArgs {
		return fmt.Errorf("service %s: %d arguments, at most %d", s.Name, len(s.Args), MaxServiceArgs)
	}
	for i, a := range s.Args {
		if len(a.Name) > MaxServiceName || !gqlName.MatchString(a.Name) || strings.HasPrefix(a.Name, "__") {
			return fmt.Errorf("service %s: argument %q: an argument's name is letters, digits and _ (at most %d bytes), not starting with a digit or __", s.Name, a.Name, MaxServiceName)
		}
		if slices.ContainsFunc(s.Args[:i], func(b ServiceArg) bool { return b.Name == a.Name }) {
			return fmt.Errorf("service %s: argument %s given twice", s.Name, a.Name)
		}
		if _, err := parseTypeExpr(a.Type); err != nil {
			return fmt.Errorf("service %s: argument %s: type %q: %w", s.Name, a.Name, a.Type, err)
		}
		if a.Default != "" {
			if _, err := parser.ParseQuery(&ast.Source{Input: "{ f(a: " + a.Default + ") }"}); err != nil || strings.ContainsAny(a.Default, "\n\r") {
				return fmt.Errorf("service %s: argument %s: default %q is not one GraphQL value on one line", s.Name, a.Name, a.Default)
			}
		}
	}
	for _, list := range [][]string{s.Reads, s.Writes} {
		for _, typ := range list {
			if !gqlName.MatchString(typ) {
				return fmt.Errorf("service %s: %q is not a type's name", s.Name, typ)
			}
		}
	}
	if !s.Mutation && len(s.Writes) > 0 {
		return fmt.Errorf("service %s: a query writes nothing, but it declares writes of %s: make it a mutation", s.Name, strings.Join(s.Writes, ", "))
	}
	return nil
}

// parseTypeExpr reads a GraphQL type expression: a name, or a list
// [T], each with ! for non-null.
func parseTypeExpr(s string) (*ast.Type, error) {
	t, rest, err := typeExpr(strings.TrimSpace(s), 0)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("unexpected %q after the type", rest)
	}
	return t, nil
}

func typeExpr(s string, depth int) (*ast.Type, string, error) {
	s = strings.TrimLeft(s, " ")
	var t *ast.Type
	switch {
	case s == "":
		return nil, "", errors.New("want a type such as String!, [Order!] or Customer")
	case s[0] == '[':
		if depth >= 8 {
			return nil, "", errors.New("lists nested more than 8 deep")
		}
		elem, rest, err := typeExpr(s[1:], depth+1)
		if err != nil {
			return nil, "", err
		}
		rest = strings.TrimLeft(rest, " ")
		if !strings.HasPrefix(rest, "]") {
			return nil, "", errors.New("a list without its ]")
		}
		t, s = ast.ListType(elem, nil), rest[1:]
	default:
		n := 0
		for n < len(s) && (s[n] == '_' || 'a' <= s[n] && s[n] <= 'z' || 'A' <= s[n] && s[n] <= 'Z' || n > 0 && '0' <= s[n] && s[n] <= '9') {
			n++
		}
		if n == 0 {
			return nil, "", fmt.Errorf("want a type's name or [, got %q", s)
		}
		t, s = ast.NamedType(s[:n], nil), s[n:]
	}
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, "!") {
		t.NonNull, s = true, s[1:]
	}
	return t, s, nil
}

// ServiceError is why NewSchema left a service out of a model's schema.
type ServiceError struct {
	Service string
	Err     error
}

func (e ServiceError) Error() string { return "service " + e.Service + ": " + e.Err.Error() }

// Clone is the service with copies of its Args, Reads and Writes, which
// a change to the original's leaves as they are.
func (svc Service) Clone() Service {
	svc.Args = slices.Clone(svc.Args)
	svc.Reads, svc.Writes = slices.Clone(svc.Reads), slices.Clone(svc.Writes)
	return svc
}

// Services returns the services the schema serves, sorted by name: copies
// (Service.Clone), which a caller may change.
func (s *Schema) Services() []Service {
	out := make([]Service, 0, len(s.serviceNames))
	for _, name := range s.serviceNames {
		out = append(out, s.services[name].Clone())
	}
	return out
}

// Service returns the service the schema serves under name, a copy.
func (s *Schema) Service(name string) (Service, bool) {
	svc, ok := s.services[name]
	if !ok {
		return Service{}, false
	}
	return svc.Clone(), true
}

// ServiceErrors says which of the services NewSchema was given it left
// out, and why, sorted by name.
func (s *Schema) ServiceErrors() []ServiceError { return slices.Clone(s.leftOut) }

// isService reports whether f is a root field served by a service.
func (s *Schema) isService(f *ast.Field) bool {
	if f.ObjectDefinition == nil || f.ObjectDefinition.Name != "Query" && f.ObjectDefinition.Name != "Mutation" {
		return false
	}
	svc, ok := s.services[f.Name]
	return ok && svc.Mutation == (f.ObjectDefinition.Name == "Mutation")
}

// checkServiceTypes checks a service against the schema of the model
// alone: its name must not be a generated field's of its root type
// (Query's get and list fields, Mutation's insert, put, update and
// remove), and its types must be there, of the right kind.
func (s *Schema) checkServiceTypes(sch *ast.Schema, svc Service) error {
	if err := CheckService(svc); err != nil {
		// Without the "service NAME:" that ServiceError adds.
		return errors.New(strings.TrimPrefix(err.Error(), "service "+svc.Name+": "))
	}
	generated := []map[string]*model.Type{s.get, s.list}
	if svc.Mutation {
		generated = []map[string]*model.Type{s.insert, s.put, s.update, s.remove}
	}
	for _, gen := range generated {
		if t, ok := gen[svc.Name]; ok {
			return fmt.Errorf("its name is the name of a field the schema makes for type %s", t.Name)
		}
	}
	for _, a := range svc.Args {
		t, _ := parseTypeExpr(a.Type)
		def := sch.Types[t.Name()]
		switch {
		case def == nil:
			return fmt.Errorf("argument %s: the schema of the model has no type %s", a.Name, t.Name())
		case def.Kind != ast.Scalar && def.Kind != ast.Enum && def.Kind != ast.InputObject:
			return fmt.Errorf("argument %s: %s is an output type, not an input type", a.Name, t.Name())
		}
		if a.Default != "" {
			if err := s.checkDefault(sch, t, a.Default); err != nil {
				return fmt.Errorf("argument %s: default %s: %w", a.Name, a.Default, err)
			}
		}
	}
	t, _ := parseTypeExpr(svc.Returns)
	def := sch.Types[t.Name()]
	if def == nil {
		return fmt.Errorf("returns %s: the schema of the model has no type %s", svc.Returns, t.Name())
	}
	if _, isModel := s.model.Type(t.Name()); def.Kind != ast.Scalar && def.Kind != ast.Enum && !(def.Kind == ast.Object && isModel) {
		return fmt.Errorf("returns %s: a service returns a scalar, an enum or a type of the model, or a list of them", svc.Returns)
	}
	for _, list := range [][]string{svc.Reads, svc.Writes} {
		for _, typ := range list {
			if _, ok := s.model.Type(typ); !ok {
				return fmt.Errorf("the model has no type %s, which it reads or writes", typ)
			}
		}
	}
	return nil
}

// checkDefault checks an argument's default against its type t:
// gqlparser checks literals of its own scalars, enums and input types
// (in a variable's default, which is what it checks there), and
// inputValue the model's scalars.
func (s *Schema) checkDefault(sch *ast.Schema, t *ast.Type, literal string) error {
	doc, err := parser.ParseQuery(&ast.Source{Name: "default", Input: "query($v: " + t.String() + " = " + literal + ") { __typename }"})
	if err != nil {
		return err
	}
	for _, ge := range validator.ValidateWithRules(sch, doc, nil) {
		if ge.Rule != "NoUnusedVariables" {
			return errors.New(ge.Message)
		}
	}
	e := newExecutor(s, nil, nil, nil, doc, Limits{}, nil)
	e.s = &Schema{model: s.model, ast: sch}
	v, _ := e.literal(doc.Operations[0].VariableDefinitions[0].DefaultValue)
	_, err = e.inputValue(t, v, "the value")
	return err
}

// serviceLine writes a service's field in the SDL.
func serviceLine(svc *Service) string {
	var b strings.Builder
	if svc.Doc != "" {
		b.WriteString("  " + gqlString(svc.Doc) + "\n")
	}
	b.WriteString("  " + svc.Name)
	if len(svc.Args) > 0 {
		b.WriteString("(")
		for i, a := range svc.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			if a.Doc != "" {
				b.WriteString(gqlString(a.Doc) + " ")
			}
			t, _ := parseTypeExpr(a.Type)
			b.WriteString(a.Name + ": " + t.String())
			if a.Default != "" {
				b.WriteString(" = " + a.Default)
			}
		}
		b.WriteString(")")
	}
	t, _ := parseTypeExpr(svc.Returns)
	b.WriteString(": " + t.String())
	return b.String()
}

// gqlString writes s as a GraphQL string, on one line: JSON's escapes
// are GraphQL's.
func gqlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// ServiceCall is what a service's function may do while it runs: read
// and write the types it declared, through the request's Data. Every
// storage call counts against the request's Limits.MaxCalls, and the
// objects read against Limits.MaxObjectsRead, as the executor's own
// calls do. It is good for the call it was given to only.
type ServiceCall struct {
	e   *executor
	svc *Service
	// halt is the first error that failed the whole request: it fails
	// the field whatever the function does with it.
	halt error
	// limit is the first error that the call budget gave.
	limit error
	// wrote is set once the function has sent a write to storage (Put
	// or Delete, whether it took effect or not): a failure after it
	// cannot say that nothing was done.
	wrote bool
}

// Context is the request's context: done when the request is cancelled
// or out of time, after which every storage call fails.
func (c *ServiceCall) Context() context.Context { return c.e.ctx }

// Model is the model the schema was built from.
func (c *ServiceCall) Model() *model.Model { return c.e.m }

// note remembers an error that fails the request, or that spent the
// call budget, so that the field fails with it whatever the function
// does with it.
func (c *ServiceCall) note(err error) error {
	if h := haltError(""); errors.As(err, &h) && c.halt == nil {
		c.halt = h
	}
	if l := limitError(""); errors.As(err, &l) && c.limit == nil {
		c.limit = l
	}
	return err
}

// declared returns the model type typ when the service declared it
// among its Reads (write false) or Writes (write true).
func (c *ServiceCall) declared(typ string, write bool) (*model.Type, error) {
	list, verb := c.svc.Reads, "reads"
	if write {
		list, verb = c.svc.Writes, "writes"
	}
	if !slices.Contains(list, typ) {
		return nil, fmt.Errorf("service %s %s %s, which it does not declare in %s", c.svc.Name, verb, typ, strings.ToUpper(verb[:1])+verb[1:])
	}
	t, ok := c.e.m.Type(typ)
	if !ok {
		return nil, fmt.Errorf("service %s: the model has no type %s", c.svc.Name, typ)
	}
	return t, nil
}

// keyOf encodes the primary key of typ whose key fields have the values
// in key (any Go values JSON encodes: strings, integers, time.Time, ...).
func keyOf(t *model.Type, key map[string]any) (string, error) {
	obj, err := jsonObject(key)
	if err != nil {
		return "", codedf(CodeBadRequest, "key of %s: %w", t.Name, err)
	}
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(t.Key, k) {
			return "", codedf(CodeBadRequest, "key of %s: %q is not one of its key fields (%s)", t.Name, k, strings.Join(t.Key, ", "))
		}
	}
	pk, err := t.PrimaryKey(obj)
	if err != nil {
		return "", codedf(CodeBadRequest, "key of %s: %w", t.Name, err)
	}
	return pk, nil
}

// jsonObject turns Go values into what a JSON decoder gives: numbers as
// json.Number, times and bytes as their text.
func jsonObject(m map[string]any) (model.Object, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out model.Object
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// Get reads the object of type typ whose key fields have the values in
// key; found is false when there is none. typ must be among Reads. A
// key that is not one of typ's (a field that is not a key field, a
// value not of its type) is an error coded bad_request, for it comes
// from the caller's arguments, as a rule.
func (c *ServiceCall) Get(typ string, key map[string]any) (obj Stored, found bool, err error) {
	t, err := c.declared(typ, false)
	if err != nil {
		return Stored{}, false, err
	}
	pk, err := keyOf(t, key)
	if err != nil {
		return Stored{}, false, err
	}
	st, found, err := c.e.get(t, pk)
	return st, found, c.note(err)
}

// Filters reads filters on typ written as a REST listing's query
// (core/api): "status=open&total[gt]=10". Build the query with
// url.Values's Encode, never by joining the caller's text into it:
//
//	c.Filters("Order", url.Values{"customer_id": {id}, "status": {"open"}}.Encode())
//
// A query that is not one of filters on typ is an error coded
// bad_request.
func (c *ServiceCall) Filters(typ, query string) (api.Filters, error) {
	t, err := c.declared(typ, false)
	if err != nil {
		return nil, err
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return nil, codedf(CodeBadRequest, "filters %q: %w", query, err)
	}
	for _, name := range []string{"limit", "after", "consistency"} {
		if values.Has(name) {
			return nil, codedf(CodeBadRequest, "filters %q: %s is not a filter (List takes the page's bounds)", query, name)
		}
	}
	q, err := api.ParseQuery(t, values)
	if err != nil {
		return nil, codedf(CodeBadRequest, "filters %q: %w", query, err)
	}
	return q.Filters, nil
}

// List lists typ's objects that meet every filter (at most
// api.MaxFilters; Filters makes them), in primary key order, after the
// encoded key after ("" from the first), at most limit (1 to
// api.MaxLimit), as Data.List does: a page may be short, even empty, and
// have More, with Last the key to go on after. typ must be among Reads.
// A limit or filters out of bounds are an error coded bad_request: they
// come from the caller's arguments, as a rule.
func (c *ServiceCall) List(typ string, filters api.Filters, after string, limit int) (api.Page[Stored], error) {
	t, err := c.declared(typ, false)
	if err != nil {
		return api.Page[Stored]{}, err
	}
	if limit < 1 || limit > api.MaxLimit {
		return api.Page[Stored]{}, codedf(CodeBadRequest, "listing %s: limit %d, want 1 to %d", typ, limit, api.MaxLimit)
	}
	if len(filters) > api.MaxFilters {
		return api.Page[Stored]{}, codedf(CodeBadRequest, "listing %s: %d filters, at most %d", typ, len(filters), api.MaxFilters)
	}
	page, err := c.e.list(t, filters, api.Order{}, after, limit)
	return page, c.note(err)
}

// Put stores obj, a whole object of typ's latest version (any Go values
// JSON encodes), if cond holds, and returns it as stored, with its new
// revision. A condition that does not hold is ErrCondition, wrapped in
// an error coded precondition_failed (412 in REST). typ must be among
// Writes, and the service a mutation.
func (c *ServiceCall) Put(typ string, obj map[string]any, cond Condition) (Stored, error) {
	t, err := c.declared(typ, true)
	if err != nil {
		return Stored{}, err
	}
	norm, err := c.e.validate(t, obj)
	if err != nil {
		return Stored{}, fmt.Errorf("%s: %w", typ, err)
	}
	pk, err := t.PrimaryKey(norm)
	if err != nil {
		return Stored{}, fmt.Errorf("%s: %w", typ, err)
	}
	if err := c.e.call(); err != nil {
		return Stored{}, c.note(err)
	}
	c.wrote = true
	st, err := c.e.data.Put(t.Name, pk, norm, cond)
	if errors.Is(err, ErrCondition) {
		return Stored{}, codedf(CodePreconditionFailed, "writing %s %s: %w", t.Name, t.KeyString(pk), ErrCondition)
	}
	if err != nil {
		return Stored{}, fmt.Errorf("writing %s %s: %w", t.Name, t.KeyString(pk), err)
	}
	st.Key = pk
	return st, nil
}

// Delete deletes the object of typ whose key fields have the values in
// key, if cond holds (IfRevision only); found is false when there was
// none. typ must be among Writes, and the service a mutation. A
// condition that does not hold is as Put's.
func (c *ServiceCall) Delete(typ string, key map[string]any, cond Condition) (found bool, err error) {
	t, err := c.declared(typ, true)
	if err != nil {
		return false, err
	}
	pk, err := keyOf(t, key)
	if err != nil {
		return false, err
	}
	if cond.IfAbsent {
		return false, fmt.Errorf("deleting %s %s: a delete takes a revision as its condition, not IfAbsent", t.Name, t.KeyString(pk))
	}
	if err := c.e.call(); err != nil {
		return false, c.note(err)
	}
	c.wrote = true
	found, err = c.e.data.Delete(t.Name, pk, cond)
	if errors.Is(err, ErrCondition) {
		return false, codedf(CodePreconditionFailed, "deleting %s %s: %w", t.Name, t.KeyString(pk), ErrCondition)
	}
	if err != nil {
		return false, fmt.Errorf("deleting %s %s: %w", t.Name, t.KeyString(pk), err)
	}
	return found, nil
}

// Errors CallService wraps, so that its caller can tell why a call was
// not made or did not finish.
var (
	ErrNoService = errors.New("no such service")
	ErrArgs      = errors.New("bad arguments")
	ErrForbidden = errors.New("not allowed")
	ErrLimit     = errors.New("over a limit of the request")
)

// refusal is an error of a kind (ErrArgs, ErrForbidden, ErrLimit) whose
// message is its own.
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

// refusalCodes are the codes of the kinds of refusal: nothing was done.
var refusalCodes = map[error]string{
	ErrArgs:      CodeBadRequest,
	ErrForbidden: CodeForbidden,
	ErrLimit:     CodeRefused,
}

// refuse makes a refusal of kind, coded as its kind is.
func refuse(kind error, format string, args ...any) error {
	return &CodedError{Code: refusalCodes[kind], Err: &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}}
}

// ServicePanic is the error of a service whose function panicked. Its
// message says that the service failed, and no more: the panic's value
// and stack are for the log (a Data that is a PanicLogger is handed
// them), not for the caller.
type ServicePanic struct {
	Service string
	Value   any
	Stack   []byte
}

func (p *ServicePanic) Error() string { return "service " + p.Service + " failed" }

// PanicLogger is what a Data implements to be told of a service's
// panic, which the field's error does not show: core/live logs it.
type PanicLogger interface {
	LogServicePanic(p *ServicePanic)
}

// runService runs a service field: rights, arguments, the function, and
// its result as a value to complete.
func (e *executor) runService(svc *Service, f *ast.Field) (any, error) {
	for _, typ := range svc.Reads {
		if !e.rights.CanReadWhole(typ) {
			return nil, refuse(ErrForbidden, "not allowed to read the whole of %s (every field), which service %s reads", typ, svc.Name)
		}
	}
	for _, typ := range svc.Writes {
		if !e.rights.CanWrite(typ) {
			return nil, refuse(ErrForbidden, "not allowed to write %s, which service %s writes", typ, svc.Name)
		}
	}
	given := e.args(f)
	args := map[string]any{}
	for _, a := range svc.Args {
		v, ok := given[a.Name]
		if ok && v == nil && a.Default != "" {
			// An explicit null takes the default, as ServiceArg says.
			if def := f.Definition.Arguments.ForName(a.Name); def != nil {
				v, ok = e.literal(def.DefaultValue)
			}
		}
		if !ok {
			continue
		}
		t, _ := parseTypeExpr(a.Type)
		x, err := e.inputValue(t, v, a.Name)
		if err != nil {
			return nil, refuse(ErrArgs, "argument %s", err)
		}
		args[a.Name] = x
	}
	c := &ServiceCall{e: e, svc: svc}
	v, err := callFunc(svc, c, args)
	var p *ServicePanic
	if errors.As(err, &p) {
		if l, ok := e.data.(PanicLogger); ok {
			l.LogServicePanic(p)
		}
	}
	switch {
	case c.halt != nil && c.wrote:
		// Still a haltError, which fails the whole request.
		return nil, afterWrite(svc, c.halt)
	case c.halt != nil:
		return nil, c.halt
	case c.limit != nil && c.wrote:
		return nil, afterWrite(svc, c.limit)
	case c.limit != nil:
		return nil, refuse(ErrLimit, "%s", c.limit)
	case err != nil:
		return nil, err
	}
	t, _ := parseTypeExpr(svc.Returns)
	out, err := e.serviceValue(t, v)
	if err != nil {
		return nil, fmt.Errorf("service %s returned %s", svc.Name, err)
	}
	return out, nil
}

// afterWrite is the error of a service stopped by err (a limit of the
// request, its context done) after it sent a write: not a refusal, for
// its writes may have taken effect.
func afterWrite(svc *Service, err error) error {
	return &CodedError{Code: CodeOutcomeUnknown, Err: fmt.Errorf(
		"service %s stopped after it wrote: %w: the outcome is unknown, its writes may or may not have taken effect", svc.Name, err)}
}

// callFunc runs the function, a panic made a ServicePanic: one
// service's bug must not fail the other fields, or take the node down.
func callFunc(svc *Service, c *ServiceCall, args map[string]any) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, &ServicePanic{Service: svc.Name, Value: p, Stack: debug.Stack()}
		}
	}()
	return svc.Func(c, args)
}

// inputValue coerces an argument's value, as validated by gqlparser,
// into the Go value ServiceArg's doc promises; path names it for an
// error.
func (e *executor) inputValue(t *ast.Type, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			list = []any{v} // a single value is a list of one
		}
		out := make([]any, len(list))
		for i, item := range list {
			x, err := e.inputValue(t.Elem, item, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	}
	def := e.s.ast.Types[t.NamedType]
	if def != nil && def.Kind == ast.InputObject {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s is not an input object", path, describeInput(v))
		}
		out := map[string]any{}
		for _, fd := range def.Fields {
			x, ok := m[fd.Name]
			if !ok && fd.DefaultValue != nil {
				x, ok = e.literal(fd.DefaultValue)
			}
			if !ok {
				continue
			}
			y, err := e.inputValue(fd.Type, x, path+"."+fd.Name)
			if err != nil {
				return nil, err
			}
			out[fd.Name] = y
		}
		return out, nil
	}
	if def != nil && def.Kind == ast.Enum {
		s, ok := v.(string)
		if !ok || def.EnumValues.ForName(s) == nil {
			return nil, fmt.Errorf("%s: %s is not a value of %s", path, describeInput(v), def.Name)
		}
		return s, nil
	}
	bad := func(what string) error { return fmt.Errorf("%s: %s is not %s", path, describeInput(v), what) }
	switch t.NamedType {
	case "String", "ID":
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			if t.NamedType == "ID" {
				return string(x), nil
			}
		}
		return nil, bad("a string")
	case "Int":
		i, ok := toInt64(v)
		if !ok || i < math.MinInt32 || i > math.MaxInt32 {
			return nil, bad("a 32-bit integer")
		}
		return int(i), nil
	case scalarInt64:
		i, ok := toInt64(v)
		if !ok {
			return nil, bad("a 64-bit integer")
		}
		return i, nil
	case "Float":
		switch x := v.(type) {
		case float64:
			return x, nil
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err == nil {
				return f, nil
			}
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		}
		return nil, bad("a number")
	case "Boolean":
		b, ok := v.(bool)
		if !ok {
			return nil, bad("true or false")
		}
		return b, nil
	case scalarDecimal:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = string(x)
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			return nil, bad("a decimal")
		}
		d, err := model.CanonicalDecimal(s)
		if err != nil {
			return nil, bad("a decimal")
		}
		return d, nil
	case scalarTimestamp:
		s, ok := v.(string)
		if !ok {
			return nil, bad("an RFC 3339 time")
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, bad("an RFC 3339 time")
		}
		return ts.UTC(), nil
	case scalarBytes:
		s, ok := v.(string)
		if !ok {
			return nil, bad("standard base64")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, bad("standard base64")
		}
		return b, nil
	}
	return v, nil // JSON
}

// serviceValue checks a function's result against the service's type
// and turns it into what complete takes: objects of the model as
// *objValue, lists as []any, scalars as JSON-encodable values. The
// function may give a model type's objects as Stored or *Stored; Int and
// Int64 as any Go integer (or json.Number); Float as any number;
// Decimal as string or json.Number (made canonical); Timestamp as
// time.Time or RFC 3339 text; Bytes as []byte or base64 text; String,
// ID and enums as string; JSON as anything encoding/json encodes; a list
// as any slice.
func (e *executor) serviceValue(t *ast.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, nil
	}
	if t.Elem != nil {
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return nil, fmt.Errorf("a %T for the list type %s", v, t)
		}
		out := make([]any, rv.Len())
		for i := range out {
			x, err := e.serviceValue(t.Elem, rv.Index(i).Interface())
			if err != nil {
				return nil, fmt.Errorf("%s at index %d", err, i)
			}
			out[i] = x
		}
		return out, nil
	}
	name := t.NamedType
	def := e.s.ast.Types[name]
	if def != nil && def.Kind == ast.Object {
		mt, ok := e.m.Type(name)
		var st Stored
		switch x := v.(type) {
		case Stored:
			st = x
		case *Stored:
			st = *x
		default:
			return nil, fmt.Errorf("a %T for %s: want a graphql.Stored", v, name)
		}
		if !ok || st.Object == nil {
			return nil, fmt.Errorf("an object of %s without its fields", name)
		}
		if st.Key == "" {
			pk, err := mt.PrimaryKey(st.Object)
			if err != nil {
				return nil, fmt.Errorf("an object of %s without a key: %v", name, err)
			}
			st.Key = pk
		}
		if st.Version == 0 {
			st.Version = mt.Latest()
		}
		return &objValue{t: mt, st: st}, nil
	}
	bad := func() error { return fmt.Errorf("%s (a %T) for %s", describeInput(v), v, name) }
	if def != nil && def.Kind == ast.Enum {
		if s, ok := v.(string); ok && def.EnumValues.ForName(s) != nil {
			return s, nil
		}
		return nil, bad()
	}
	switch name {
	case "String", "ID":
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, bad()
	case "Int", scalarInt64:
		i, ok := goInt(v)
		if !ok || name == "Int" && (i < math.MinInt32 || i > math.MaxInt32) {
			return nil, bad()
		}
		return i, nil
	case "Float":
		if f, ok := goFloat(v); ok {
			return f, nil
		}
		return nil, bad()
	case "Boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, bad()
	case scalarDecimal:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = string(x)
		default:
			return nil, bad()
		}
		d, err := model.CanonicalDecimal(s)
		if err != nil {
			return nil, bad()
		}
		return d, nil
	case scalarTimestamp:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		case string:
			if ts, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return ts.UTC().Format(time.RFC3339Nano), nil
			}
		}
		return nil, bad()
	case scalarBytes:
		switch x := v.(type) {
		case []byte:
			return base64.StdEncoding.EncodeToString(x), nil
		case string:
			if _, err := base64.StdEncoding.DecodeString(x); err == nil {
				return x, nil
			}
		}
		return nil, bad()
	}
	// JSON: encoded as it is, so that it is known to encode.
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("a value that does not encode as JSON: %v", err)
	}
	return json.RawMessage(raw), nil
}

// goInt reads any Go integer, or a json.Number of one.
func goInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		return i, err == nil
	case float64, float32, string, bool:
		return 0, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u), true
		}
	}
	return 0, false
}

// goFloat reads any finite Go number, or a json.Number.
func goFloat(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			return 0, false
		}
	default:
		i, ok := goInt(v)
		if !ok {
			return 0, false
		}
		f = float64(i)
	}
	return f, !math.IsInf(f, 0) && !math.IsNaN(f)
}

// ServiceRequest is one call of a service outside a GraphQL query: the
// REST endpoint's. Args are the arguments as decoded from JSON (numbers
// as json.Number or float64), coerced through the service's GraphQL
// types as a query's variables are.
type ServiceRequest struct {
	Schema  *Schema
	Service string
	Args    map[string]any
	Data    Data
	Rights  Rights // nil: everything is allowed
	Limits  Limits
	Context context.Context // nil: never done
}

// ServiceResult is the result of CallService: Value as JSON-encodable Go
// values, objects of the model as Stored (Key set, and the fields the
// caller may not read left out) and lists as []any; Type is the model
// type of those objects, "" for a scalar result.
type ServiceResult struct {
	Value any
	Type  string
}

// CallService calls a service as a GraphQL request of its one field
// would, with the same coercion of arguments, rights and limits, and
// returns its result uncompleted, trimmed to the fields the caller may
// read (Rights.CanReadField). The error wraps ErrNoService (the schema
// does not serve it), ErrArgs (an argument is missing, unknown or not
// of its type), ErrForbidden (the caller may not read the whole of a
// type the service reads or write a type it writes, or read anything of
// the type of an object it returned), ErrLimit (it made more storage
// calls or read more objects than Limits allow, or its result encodes
// to more than Limits.MaxResponseBytes), or the request context's
// error; each of these but the context's comes in a CodedError
// (bad_request, forbidden, refused), and nothing was done. A service
// stopped by a limit or the context after it sent a write fails with a
// CodedError coded outcome_unknown instead. Otherwise the error is the
// function's own, as it returned it (a CodedError of Data's among its
// wrapped errors, as a rule, for a storage failure), or a ServicePanic.
func CallService(req ServiceRequest) (ServiceResult, error) {
	s := req.Schema
	if s == nil || req.Data == nil {
		return ServiceResult{}, errors.New("graphql: a service call needs a schema and data")
	}
	svc, ok := s.services[req.Service]
	if !ok {
		return ServiceResult{}, fmt.Errorf("%w: %q", ErrNoService, req.Service)
	}
	for _, name := range sortedKeys(req.Args) {
		if !slices.ContainsFunc(svc.Args, func(a ServiceArg) bool { return a.Name == name }) {
			return ServiceResult{}, refuse(ErrArgs, "argument %s: service %s has no such argument (%s)", name, svc.Name, argNames(svc))
		}
	}
	// The call as a query: its variables are the arguments, so that
	// gqlparser coerces them as it does any request's.
	var vars, args []string
	for _, a := range svc.Args {
		t, _ := parseTypeExpr(a.Type)
		if a.Default != "" {
			t.NonNull = false // the field's default stands in
		}
		vars = append(vars, "$"+a.Name+": "+t.String())
		args = append(args, a.Name+": $"+a.Name)
	}
	op := "query"
	if svc.Mutation {
		op = "mutation"
	}
	q := op
	if len(vars) > 0 {
		q += "(" + strings.Join(vars, ", ") + ")"
	}
	q += " { " + svc.Name
	if len(args) > 0 {
		q += "(" + strings.Join(args, ", ") + ")"
	}
	ret, _ := parseTypeExpr(svc.Returns)
	if def := s.ast.Types[ret.Name()]; def != nil && def.Kind == ast.Object {
		q += " { __typename }"
	}
	q += " }"
	doc, err := parser.ParseQuery(&ast.Source{Name: "service", Input: q})
	if err != nil {
		return ServiceResult{}, fmt.Errorf("graphql: the query of service %s: %w", svc.Name, err)
	}
	if errs := validator.ValidateWithRules(s.ast, doc, nil); len(errs) > 0 {
		return ServiceResult{}, fmt.Errorf("graphql: the query of service %s: %w", svc.Name, errs)
	}
	opDef := doc.Operations[0]
	coerced, err := validator.VariableValues(s.ast, opDef, req.Args)
	if err != nil {
		return ServiceResult{}, refuse(ErrArgs, "%s", variableError(err))
	}
	e := newExecutor(s, req.Data, req.Rights, coerced, doc, req.Limits, req.Context)
	if ge := e.measure(opDef); ge != nil {
		return ServiceResult{}, refuse(ErrLimit, "%s", ge.Message)
	}
	if err := e.ctx.Err(); err != nil {
		return ServiceResult{}, err
	}
	field, _ := opDef.SelectionSet[0].(*ast.Field)
	v, err := e.runService(svc, field)
	if ce := (*CodedError)(nil); errors.As(err, &ce) && ce.Code == CodeOutcomeUnknown {
		return ServiceResult{}, err
	}
	if h := haltError(""); errors.As(err, &h) {
		if cerr := e.ctx.Err(); cerr != nil {
			return ServiceResult{}, cerr
		}
		return ServiceResult{}, refuse(ErrLimit, "%s", h)
	}
	if err != nil {
		return ServiceResult{}, err
	}
	res := ServiceResult{}
	if def := s.ast.Types[ret.Name()]; def != nil && def.Kind == ast.Object {
		res.Type = def.Name
	}
	res.Value, err = e.restValue(v)
	if err != nil {
		return ServiceResult{}, err
	}
	if ret.NonNull && res.Value == nil {
		return ServiceResult{}, fmt.Errorf("service %s returned null for the non-null type %s", svc.Name, ret)
	}
	// The result as REST encodes it, near enough: objects' fields and
	// their keys, the scalars as they are.
	raw, err := json.Marshal(res.Value)
	if err != nil {
		return ServiceResult{}, fmt.Errorf("service %s returned a result that does not encode as JSON: %w", svc.Name, err)
	}
	if len(raw) > e.lim.MaxResponseBytes {
		err := fmt.Errorf("the result of service %s is over %d bytes, the limit", svc.Name, e.lim.MaxResponseBytes)
		if svc.Mutation {
			// Its writes are done, or may be: not a refusal.
			return ServiceResult{}, &CodedError{Code: CodeOutcomeUnknown, Err: fmt.Errorf(
				"%w: the outcome is unknown, its writes may or may not have taken effect", err)}
		}
		return ServiceResult{}, refuse(ErrLimit, "%s", err)
	}
	return res, nil
}

// restValue turns what runService gave into ServiceResult's Value: the
// objects in it with the fields the caller may not read left out, as
// GraphQL leaves them out of a selection. An object of a type the caller
// may read nothing of is refused.
func (e *executor) restValue(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			y, err := e.restValue(item)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case *objValue:
		if !e.rights.CanRead(x.t.Name) {
			return nil, refuse(ErrForbidden, "not allowed to read %s", x.t.Name)
		}
		st := x.st
		if !e.rights.CanReadWhole(x.t.Name) {
			st.Object = model.Object{}
			for _, f := range sortedKeys(x.st.Object) {
				if e.rights.CanReadField(x.t.Name, f) {
					st.Object[f] = x.st.Object[f]
				}
			}
		}
		return st, nil
	}
	return v, nil
}

// variableError says which argument a gqlparser variable error is about,
// in the words of a call: "argument id: must be defined".
func variableError(err error) string {
	var ge *gqlerror.Error
	if !errors.As(err, &ge) {
		return err.Error()
	}
	path := ge.Path.String()
	path = strings.TrimPrefix(path, "variable.")
	if path == "" || path == "variable" {
		return ge.Message
	}
	return "argument " + path + ": " + ge.Message
}

func argNames(svc *Service) string {
	if len(svc.Args) == 0 {
		return "it takes none"
	}
	names := make([]string, len(svc.Args))
	for i, a := range svc.Args {
		names[i] = a.Name
	}
	return "it takes " + strings.Join(names, ", ")
}

// StringArg reports whether argument arg of the service name takes one
// value written as a GraphQL string or enum (String, ID, Decimal,
// Timestamp, Bytes or an enum; not a list), which a URL's query can
// carry as plain text.
func (s *Schema) StringArg(name, arg string) bool {
	svc, ok := s.services[name]
	if !ok {
		return false
	}
	for _, a := range svc.Args {
		if a.Name != arg {
			continue
		}
		t, err := parseTypeExpr(a.Type)
		if err != nil || t.Elem != nil {
			return false
		}
		if def := s.ast.Types[t.NamedType]; def != nil && def.Kind == ast.Enum {
			return true
		}
		return slices.Contains([]string{"String", "ID", scalarDecimal, scalarTimestamp, scalarBytes}, t.NamedType)
	}
	return false
}
