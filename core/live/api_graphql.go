package live

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	query "github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/graphql"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
)

// The GraphQL endpoints serve core/graphql over the cluster's data:
//
//	POST /v1/graphql  {"query", "variables"?, "operationName"?}         → 200 {"data", "errors"}
//	GET  /v1/graphql?query=Q&variables=JSON&operationName=N (queries)   → 200 {"data", "errors"}, 405 a mutation
//	GET  /v1/graphql/schema                                             → 200 the SDL (text/plain), 404 without a model
//
// A query's own errors (parse, validation, cost, a field's) answer 200
// with "errors", as GraphQL over HTTP has them; a request that is not one
// (a malformed body, an unknown parameter) answers 400 in the API's
// format. Every read is linearizable. One request's work, its Data calls
// and the executor's own, shares its timeout (APIOptions.Timeout), and
// APIOptions.GraphQL bounds its depth, cost, calls, objects read and
// response bytes. The query field _sdl, as GET /v1/graphql/schema, needs
// read of the cluster.

// GraphQLRequest is the body of POST /v1/graphql.
type GraphQLRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables,omitempty"`
	OperationName string         `json:"operationName,omitempty"`
}

// schemaCache keeps the GraphQL schema of the model in force, built once
// per model digest (building loads the SDL, which takes longer than most
// queries), and one only, as models keeps one parsed model.
type schemaCache struct {
	mu     sync.Mutex
	digest string
	schema *graphql.Schema
	err    error     // why the model has no schema
	docs   *docCache // the recent queries prepared on schema
}

func (c *schemaCache) get(digest string, m *model.Model, services []graphql.Service) (*graphql.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.digest != digest || (c.schema == nil && c.err == nil) {
		c.digest = digest
		c.schema, c.err = graphql.NewSchema(m, services...)
		c.docs = newDocCache()
	}
	return c.schema, c.err
}

// document is the query text prepared on s, from the cache when it was before;
// errs say why it is no query of s.
func (c *schemaCache) document(s *graphql.Schema, text string) (*graphql.Document, gqlerror.List) {
	c.mu.Lock()
	docs := c.docs
	if c.schema != s {
		docs = nil // the model changed meanwhile: s's queries are not kept
	}
	c.mu.Unlock()
	if d, ok := docs.get(text); ok {
		return d, nil
	}
	d, errs := graphql.Prepare(s, text)
	if errs == nil {
		docs.put(text, d)
	}
	return d, errs
}

// graphqlSchema is the schema of the model in force.
func (a *api) graphqlSchema(r *http.Request) (*graphql.Schema, error) {
	m, rev, err := a.current(r)
	if err != nil {
		return nil, err
	}
	s, err := a.schemas.get(rev.Digest, m, a.services())
	if err != nil {
		return nil, apiErrorf(http.StatusNotImplemented, "the model in force (revision %d) has no GraphQL schema: %s", rev.Revision, err)
	}
	return s, nil
}

func (a *api) getGraphQLSchema(w http.ResponseWriter, r *http.Request) error {
	s, err := a.graphqlSchema(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(s.SDL()))
	return nil
}

// postGraphQL runs the request in the body.
func (a *api) postGraphQL(w http.ResponseWriter, r *http.Request) error {
	body, err := a.readRaw(w, r, "application/json", "text/plain", "application/x-www-form-urlencoded")
	if err != nil {
		return err
	}
	req, err := decodeGraphQLBody(body)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "request body: %s", err)
	}
	return a.runGraphQL(w, r, req)
}

// decodeGraphQLBody reads a POST /v1/graphql body as decodeObject reads
// any: unknown and duplicate fields are refused, and the errors say
// where. extensions, which some clients send, is taken and ignored.
func decodeGraphQLBody(body []byte) (GraphQLRequest, error) {
	if skipSpace(body, 0, "") == len(body) {
		return GraphQLRequest{}, errors.New(`empty: want a JSON object such as {"query": "{ ... }"}`)
	}
	fields := map[string]*jsonField{"query": {}, "variables": {}, "operationName": {}, "extensions": {}}
	if err := decodeObject(body, fields); err != nil {
		return GraphQLRequest{}, err
	}
	var req GraphQLRequest
	q := fields["query"]
	if !q.set {
		return req, errors.New(`"query" is required: {"query": "{ ... }"}`)
	}
	var err error
	if req.Query, err = q.optText("query", false); err != nil {
		return req, err
	}
	if req.OperationName, err = fields["operationName"].optText("operationName", true); err != nil {
		return req, err
	}
	if req.Variables, err = fields["variables"].optObject("variables"); err != nil {
		return req, err
	}
	if _, err = fields["extensions"].optObject("extensions"); err != nil {
		return req, err
	}
	return req, nil
}

// optText is a field's string; absent is "", and so is null when
// nullable.
func (f *jsonField) optText(name string, nullable bool) (string, error) {
	if !f.set || nullable && string(f.raw) == "null" {
		return "", nil
	}
	v, err := decodeJSON(f.raw)
	s, ok := v.(string)
	if err != nil || !ok {
		want := "a string"
		if nullable {
			want = "a string or null"
		}
		return "", fmt.Errorf("%s: %q must be %s, got %s", bodyPosition(f.body, f.off), name, want, jsonKind(f.raw))
	}
	return s, nil
}

// optObject is a field's JSON object, numbers as json.Number (so that an
// Int64 keeps its digits); absent and null are nil.
func (f *jsonField) optObject(name string) (map[string]any, error) {
	if !f.set || string(f.raw) == "null" {
		return nil, nil
	}
	v, err := decodeJSON(f.raw)
	obj, ok := v.(map[string]any)
	if err != nil || !ok {
		return nil, fmt.Errorf("%s: %q must be an object or null, got %s", bodyPosition(f.body, f.off), name, jsonKind(f.raw))
	}
	return obj, nil
}

// graphqlParams are the query parameters GET /v1/graphql takes.
var graphqlParams = []string{"query", "variables", "operationName", "extensions"}

// getGraphQL runs the request in the query parameters: queries only, as
// GraphQL over HTTP says, so that a GET never writes.
func (a *api) getGraphQL(w http.ResponseWriter, r *http.Request) error {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "query %q: %v", r.URL.RawQuery, err)
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range values {
			if !yield(name) {
				return
			}
		}
	}) {
		if !slices.Contains(graphqlParams, name) {
			return apiErrorf(http.StatusBadRequest, "parameter %q: unknown (want query, variables and operationName)", name)
		}
		if n := len(values[name]); n > 1 {
			return apiErrorf(http.StatusBadRequest, "%s: given %d times, want once", name, n)
		}
	}
	req := GraphQLRequest{Query: values.Get("query"), OperationName: values.Get("operationName")}
	if !values.Has("query") {
		return apiErrorf(http.StatusBadRequest, "query: required, such as ?query={Customer(id:\"c1\"){id}}")
	}
	for _, name := range []string{"variables", "extensions"} {
		v := values.Get(name)
		if v == "" {
			continue
		}
		if err := checkJSONObject([]byte(v)); err != nil {
			return apiErrorf(http.StatusBadRequest, "%s: %v", name, err)
		}
		obj, err := decodeJSON([]byte(v))
		if err != nil {
			return apiErrorf(http.StatusBadRequest, "%s: %v", name, err)
		}
		if name == "variables" {
			req.Variables, _ = obj.(map[string]any)
		}
	}
	if op := chosenOperation(req); op != nil && op.Operation == ast.Mutation {
		w.Header().Set("Allow", http.MethodPost)
		return apiErrorf(http.StatusMethodNotAllowed, "GET /v1/graphql: the operation is a mutation, which needs POST (a GET only queries)")
	}
	return a.runGraphQL(w, r, req)
}

// chosenOperation is the operation of the request that Execute would run,
// nil when the query does not parse or names none (Execute says why).
func chosenOperation(req GraphQLRequest) *ast.OperationDefinition {
	if len(req.Query) > graphql.MaxQueryBytes {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Name: "query", Input: req.Query}, maxQueryTokens)
	if err != nil {
		return nil
	}
	if req.OperationName != "" {
		return doc.Operations.ForName(req.OperationName)
	}
	if len(doc.Operations) == 1 {
		return doc.Operations[0]
	}
	return nil
}

// maxQueryTokens bounds the tokens of a query chosenOperation parses, as
// core/graphql bounds those it executes.
const maxQueryTokens = 10000

// runGraphQL executes req against the cluster with the caller's rights
// and answers the GraphQL response, errors and all, with 200.
func (a *api) runGraphQL(w http.ResponseWriter, r *http.Request, req GraphQLRequest) error {
	s, err := a.graphqlSchema(r)
	if err != nil {
		return err
	}
	doc, errs := a.schemas.document(s, req.Query)
	if errs != nil {
		respond(w, http.StatusOK, graphql.Response{Errors: errs})
		return nil
	}
	rights := rightsOn(r, s.Model())
	ctx, cancel := a.context(r)
	defer cancel()
	d := &clusterData{a: a, r: r.WithContext(ctx), m: s.Model()}
	resp := graphql.Execute(graphql.Request{Schema: s, Query: req.Query, Document: doc, OperationName: req.OperationName, Variables: req.Variables,
		Data: d, Rights: rights, Limits: a.opts.GraphQL, Context: ctx})
	respond(w, http.StatusOK, resp)
	return nil
}

// rightsOn are the caller's rights on the model m: nil (everything)
// with authentication off, else those of its token's role as admit
// found it. m is the model of the schema the request runs on: the model
// in force may change between two reads of it, and rights on another
// model than the schema's would judge fields by other types.
func rightsOn(r *http.Request, m *model.Model) graphql.Rights {
	who := principalOf(r)
	if !who.on {
		return nil
	}
	if who.token == nil || !who.known || m == nil {
		return roleRights{}
	}
	return roleRights{role: who.role, known: true, m: m}
}

// roleRights are a token's rights: its role's reads and writes of types
// and their fields, and its read of the cluster for the schema (a role
// that is gone has none). A role that reads any field of a type reads
// its key fields, _version, _revision and _history too (whose objects'
// fields are checked again); a relation is a field of its own, which
// the role must grant (core/graphql checks the fields it joins on). A
// name that is none of these is no field of the type's: it is refused.
type roleRights struct {
	role  cluster.Role
	known bool
	m     *model.Model // the model in force, for the types' keys
}

// objectMeta are the fields GraphQL gives every object besides its
// type's: its version, revision and history.
var objectMeta = []string{"_version", "_revision", "_history"}

func (rr roleRights) CanRead(typ string) bool {
	return rr.known && rr.role.Fields(false, typ).Any()
}

func (rr roleRights) CanReadField(typ, field string) bool {
	if !rr.CanRead(typ) {
		return false
	}
	t, ok := rr.m.Type(typ)
	if !ok || slices.Contains(t.Key, field) {
		return ok
	}
	if slices.Contains(objectMeta, field) {
		return true // no value of the object's
	}
	_, isField := t.Versions[len(t.Versions)-1].Field(field)
	isRelation := slices.ContainsFunc(t.Relations, func(r model.Relation) bool { return r.Name == field })
	return (isField || isRelation) && rr.role.CanReadField(typ, field)
}

// CanReadWhole is read of the whole type (cluster.Fields.Whole): what a
// service that reads typ needs.
func (rr roleRights) CanReadWhole(typ string) bool {
	return rr.known && rr.role.Allows(cluster.Right{Type: true, Object: typ})
}

func (rr roleRights) CanWrite(typ string) bool {
	return rr.known && rr.role.Allows(cluster.Right{Write: true, Type: true, Object: typ})
}

func (rr roleRights) CanWriteField(typ, field string) bool {
	return rr.known && rr.role.CanWriteField(typ, field)
}

// CanReadSchema is what GET /v1/graphql/schema needs: read of the
// cluster.
func (rr roleRights) CanReadSchema() bool {
	return rr.known && rr.role.Allows(cluster.Right{Object: cluster.ObjectCluster})
}

// clusterData is graphql.Data over the cluster, for one request: r
// carries its context (and its deadline) to every call. Reads are
// linearizable.
type clusterData struct {
	a *api
	r *http.Request
	m *model.Model
}

func (d *clusterData) typ(name string) (*model.Type, error) {
	t, ok := d.m.Type(name)
	if !ok {
		// The executor asks only for the schema's types.
		return nil, fmt.Errorf("the model has no type %q", name)
	}
	return t, nil
}

// route is the key an object request for pk routes by.
func (d *clusterData) route(t *model.Type, pk string) (string, error) {
	if len(pk) > kv.MaxPKLen {
		return "", fmt.Errorf("the key of %s is %d bytes encoded, over %d", t.Name, len(pk), kv.MaxPKLen)
	}
	return t.RouteKey(pk)
}

// stored turns a record of t's into a Stored, in t's latest shape when
// it can be upgraded (a kept version that cannot stays at its own).
func stored(t *model.Type, rec kv.ObjectRecord) (graphql.Stored, error) {
	obj, err := model.Decode(rec.Value)
	if err != nil {
		return graphql.Stored{}, fmt.Errorf("the backend answered %s %s with revision %d not in JSON: %w", t.Name, t.KeyString(rec.PK), rec.Revision, err)
	}
	st := graphql.Stored{Key: rec.PK, Object: obj, Version: rec.Version, Revision: int64(rec.Revision)}
	if rec.Version > 0 && rec.Version < t.Latest() {
		if up, err := t.Upgrade(rec.Version, obj); err == nil {
			st.Object, st.Version = up, t.Latest()
		}
	}
	return st, nil
}

// fail turns an error of the API's into the error a GraphQL field shows:
// the message and code of its answer, as the REST endpoints would give
// them (the code as extensions.code). A cause inside the node is logged,
// as handle logs it.
func (d *clusterData) fail(err error) error {
	var he *httpError
	if !errors.As(err, &he) {
		d.a.log.Error("graphql: request failed", "error", err)
		return fmt.Errorf("internal error: %w", err)
	}
	if he.cause != nil {
		d.a.log.Error("graphql: request failed", "status", he.status, "error", he.cause)
	}
	if body, ok := he.body.(ErrorBody); ok {
		return &graphql.CodedError{Code: ErrorCode(he.status), Err: errors.New(body.Error)}
	}
	return &graphql.CodedError{Code: ErrorCode(he.status), Err: err}
}

func (d *clusterData) get(typ, pk string, history bool) (*model.Type, kv.Response, error) {
	t, err := d.typ(typ)
	if err != nil {
		return nil, kv.Response{}, err
	}
	route, err := d.route(t, pk)
	if err != nil {
		return nil, kv.Response{}, err
	}
	resp, err := d.a.doObject(d.r, kv.Request{Op: kv.OpGetObject, Key: route, Object: &kv.ObjectRequest{Type: t.Name, PK: pk, History: history}},
		t.Name+" "+t.KeyString(pk))
	if err != nil {
		return nil, kv.Response{}, d.fail(err)
	}
	return t, resp, nil
}

// checkVersion refuses an object at a version of its type this node's
// model does not know yet.
func checkVersion(t *model.Type, rec kv.ObjectRecord) error {
	if v := rec.Version; v < 1 || v > t.Latest() {
		return fmt.Errorf("%s: %s %s is at version %d of its type, which this node's model (versions 1 to %d) does not know yet",
			ErrUnavailable, t.Name, t.KeyString(rec.PK), v, t.Latest())
	}
	return nil
}

// Get implements graphql.Data.
func (d *clusterData) Get(typ, pk string) (graphql.Stored, bool, error) {
	if len(pk) > kv.MaxPKLen {
		return graphql.Stored{}, false, nil // no object has such a key
	}
	t, resp, err := d.get(typ, pk, false)
	if err != nil || resp.Object == nil {
		return graphql.Stored{}, false, err
	}
	rec := *resp.Object
	rec.PK = pk
	if err := checkVersion(t, rec); err != nil {
		return graphql.Stored{}, false, err
	}
	st, err := stored(t, *resp.Object)
	return st, err == nil, err
}

// History implements graphql.Data.
func (d *clusterData) History(typ, pk string) ([]graphql.Stored, error) {
	if len(pk) > kv.MaxPKLen {
		return nil, nil
	}
	t, resp, err := d.get(typ, pk, true)
	if err != nil {
		return nil, err
	}
	out := make([]graphql.Stored, 0, len(resp.History))
	for _, rec := range resp.History {
		rec.PK = pk
		st, err := stored(t, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// List implements graphql.Data with the REST listing's fan-out
// (listPage).
func (d *clusterData) List(typ string, filters query.Filters, o query.Order, after string, limit int) (query.Page[graphql.Stored], error) {
	t, err := d.typ(typ)
	if err != nil {
		return query.Page[graphql.Stored]{}, err
	}
	items, next, more, err := d.a.listPage(d.r, t, filters, o, after, limit, false)
	if err != nil {
		return query.Page[graphql.Stored]{}, d.fail(err)
	}
	order := listOrder(o)
	page := query.Page[graphql.Stored]{Items: make([]graphql.Stored, 0, len(items)), More: more, Last: next}
	for _, rec := range items {
		if err := checkVersion(t, rec); err != nil {
			return query.Page[graphql.Stored]{}, err
		}
		st, err := stored(t, rec)
		if err != nil {
			return query.Page[graphql.Stored]{}, err
		}
		st.Position = order.Position(&rec)
		page.Items = append(page.Items, st)
	}
	return page, nil
}

// Put implements graphql.Data: IfAbsent is If-None-Match: *, IfRevision
// If-Match; a write whose condition fails is graphql.ErrCondition.
func (d *clusterData) Put(typ, pk string, obj model.Object, cond graphql.Condition) (graphql.Stored, error) {
	t, err := d.typ(typ)
	if err != nil {
		return graphql.Stored{}, err
	}
	route, err := d.route(t, pk)
	if err != nil {
		return graphql.Stored{}, err
	}
	if err := checkBounds(t, t.Latest(), obj, pk); err != nil {
		return graphql.Stored{}, d.fail(err)
	}
	if cond.IfRevision < 0 || cond.IfAbsent && cond.IfRevision != 0 {
		return graphql.Stored{}, fmt.Errorf("a write on condition of revision %d (if absent: %v): no object can meet it", cond.IfRevision, cond.IfAbsent)
	}
	o := &kv.ObjectRequest{Type: t.Name, Version: t.Latest(), Value: model.Encode(obj), IfAbsent: cond.IfAbsent, IfRevision: uint64(cond.IfRevision)}
	resp, err := d.a.doObject(d.r, kv.Request{Op: kv.OpPutObject, Key: route, Object: o}, t.Name+" "+t.KeyString(pk))
	if resp.Status == kv.StatusMismatch {
		return graphql.Stored{}, fmt.Errorf("%w: %s", graphql.ErrCondition, resp.Error)
	}
	if err != nil {
		return graphql.Stored{}, d.fail(err)
	}
	if resp.Object == nil {
		return graphql.Stored{}, d.fail(fmt.Errorf("the backend answered a put-object of %s %s without its revision", t.Name, t.KeyString(pk)))
	}
	return graphql.Stored{Key: pk, Object: obj, Version: t.Latest(), Revision: int64(resp.Object.Revision)}, nil
}

// Delete implements graphql.Data: IfRevision is If-Match.
func (d *clusterData) Delete(typ, pk string, cond graphql.Condition) (bool, error) {
	t, err := d.typ(typ)
	if err != nil {
		return false, err
	}
	if len(pk) > kv.MaxPKLen {
		return false, nil
	}
	route, err := d.route(t, pk)
	if err != nil {
		return false, err
	}
	if cond.IfAbsent || cond.IfRevision < 0 {
		return false, fmt.Errorf("a delete on condition of revision %d (if absent: %v): a delete takes a revision only", cond.IfRevision, cond.IfAbsent)
	}
	o := &kv.ObjectRequest{Type: t.Name, PK: pk, IfRevision: uint64(cond.IfRevision)}
	resp, err := d.a.doObject(d.r, kv.Request{Op: kv.OpDeleteObject, Key: route, Object: o}, t.Name+" "+t.KeyString(pk))
	if resp.Status == kv.StatusMismatch {
		return false, fmt.Errorf("%w: %s", graphql.ErrCondition, resp.Error)
	}
	if err != nil {
		return false, d.fail(err)
	}
	// The revision the object had; 0 when there was none.
	return resp.Object != nil && resp.Object.Revision != 0, nil
}
