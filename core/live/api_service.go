package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/graphql"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/service"
)

// The service endpoints serve the custom services (core/service) as
// REST, through the same code as their GraphQL fields
// (graphql.CallService): the same coercion of arguments, rights and
// limits.
//
//	GET  /v1/services                        → 200 ServicesBody
//	POST /v1/services/{name}  {"ARG": value} → 200 {"result": ...}
//	GET  /v1/services/{name}?ARG=VALUE       → the same, for a query; 405 for a mutation
//
// The body of a POST is a JSON object of the arguments (empty: none);
// in a GET, an argument of a string or enum type is its text, any
// other its JSON (?first=10&tags=["a","b"]); an argument with a default
// given as null takes its default. A result of a model type is rendered
// as GET /v1/data/{type}/{key} renders an object (ObjectBody, the fields
// the caller's role may not read left out), a list of them as a list;
// any other as its JSON.
//
// Errors: 400 an argument that is missing, unknown or not of its type
// (the message names it), or a key, filter or page the service made of
// it out of bounds; 403 a caller whose role may not read the whole of a
// type the service reads (a grant of some of its fields does not do),
// write a type it writes, or read anything of the type of an object it
// returned; 404 no such service; 501 a service this binary has but the
// model in force cannot serve (the message says why); 422 the request's
// limits (APIOptions.GraphQL, MaxResponseBytes for the result) spent
// before it wrote; 504 out of time, or a limit spent after it wrote (the
// outcome is unknown). The service's own error answers the status
// service.Errorf gave it, or that of its code (graphql.CodedError: a
// storage failure keeps its status, 503 unavailable, 504 outcome
// unknown, 429 busy, ...; 412 a write whose condition failed), and 500
// otherwise (logged; a panic answers "service NAME failed" and no
// more). With authentication on, any token is let in, and its role is
// checked against the service's Reads and Writes.

// ServicesBody is the body of GET /v1/services: every service of this
// binary, by name.
type ServicesBody struct {
	Services []ServiceBody `json:"services"`
}

// ServiceBody describes a service.
type ServiceBody struct {
	Name string `json:"name"`
	Doc  string `json:"doc,omitempty"`
	// Kind is query (it writes nothing; GET may call it) or mutation.
	Kind    string           `json:"kind"`
	Args    []ServiceArgBody `json:"args"`
	Returns string           `json:"returns"`
	Reads   []string         `json:"reads,omitempty"`
	Writes  []string         `json:"writes,omitempty"`
	// Unavailable says why the model in force cannot serve the service;
	// absent when it can.
	Unavailable string `json:"unavailable,omitempty"`
}

// ServiceArgBody describes an argument of a service: its GraphQL type,
// and its default as a GraphQL literal.
type ServiceArgBody struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Default string `json:"default,omitempty"`
	Doc     string `json:"doc,omitempty"`
}

// ServiceResultBody is the body of a call that succeeded.
type ServiceResultBody struct {
	Result json.RawMessage `json:"result"`
}

// services are the services the API serves: APIOptions.Services, or
// those registered with core/service. Of services of one name in
// APIOptions.Services the first is served, and the others dropped, with
// a log line.
func (a *api) services() []graphql.Service {
	if a.opts.Services == nil {
		return service.Registered()
	}
	return a.opts.Services
}

// distinctServices is services with each name once, the first of a name
// kept: a later one is dropped, and logged once, as NewAPI takes them.
func distinctServices(services []graphql.Service, log *slog.Logger) []graphql.Service {
	out := make([]graphql.Service, 0, len(services))
	for _, svc := range services {
		if slices.ContainsFunc(out, func(s graphql.Service) bool { return s.Name == svc.Name }) {
			log.Warn("services: a service of this name comes before it in APIOptions.Services: dropped", "service", svc.Name)
			continue
		}
		out = append(out, svc)
	}
	return out
}

func (a *api) listServices(w http.ResponseWriter, r *http.Request) error {
	why := map[string]string{}
	s, err := a.graphqlSchema(r)
	for _, svc := range a.services() {
		switch {
		case err != nil:
			why[svc.Name] = errorMessage(err)
		default:
			if _, ok := s.Service(svc.Name); !ok {
				why[svc.Name] = leftOutReason(s, svc.Name)
			}
		}
	}
	out := ServicesBody{Services: []ServiceBody{}}
	for _, svc := range a.services() {
		b := ServiceBody{Name: svc.Name, Doc: svc.Doc, Kind: "query", Args: []ServiceArgBody{}, Returns: svc.Returns,
			Reads: svc.Reads, Writes: svc.Writes, Unavailable: why[svc.Name]}
		if svc.Mutation {
			b.Kind = "mutation"
		}
		for _, arg := range svc.Args {
			b.Args = append(b.Args, ServiceArgBody{Name: arg.Name, Type: arg.Type, Default: arg.Default, Doc: arg.Doc})
		}
		out.Services = append(out.Services, b)
	}
	slices.SortFunc(out.Services, func(x, y ServiceBody) int { return strings.Compare(x.Name, y.Name) })
	respond(w, http.StatusOK, out)
	return nil
}

// errorMessage is the message of an error as the API would answer it.
func errorMessage(err error) string {
	var he *httpError
	if errors.As(err, &he) {
		if body, ok := he.body.(ErrorBody); ok {
			return body.Error
		}
	}
	return err.Error()
}

// leftOutReason says why the schema does not serve the service name.
func leftOutReason(s *graphql.Schema, name string) string {
	for _, e := range s.ServiceErrors() {
		if e.Service == name {
			return e.Err.Error()
		}
	}
	return "the schema does not serve it"
}

// serviceSchema is the schema of the model in force, which serves the
// path's service.
func (a *api) serviceSchema(r *http.Request) (*graphql.Schema, graphql.Service, error) {
	name := r.PathValue("name")
	known := slices.ContainsFunc(a.services(), func(svc graphql.Service) bool { return svc.Name == name })
	if !known {
		return nil, graphql.Service{}, apiErrorf(http.StatusNotFound, "service %q: no such service (GET /v1/services lists them)", name)
	}
	s, err := a.graphqlSchema(r)
	if err != nil {
		return nil, graphql.Service{}, err
	}
	svc, ok := s.Service(name)
	if !ok {
		return nil, graphql.Service{}, apiErrorf(http.StatusNotImplemented, "service %s: the model in force cannot serve it: %s", name, leftOutReason(s, name))
	}
	return s, svc, nil
}

// postService calls the path's service with the arguments in the body.
func (a *api) postService(w http.ResponseWriter, r *http.Request) error {
	s, svc, err := a.serviceSchema(r)
	if err != nil {
		return err
	}
	body, err := a.readRaw(w, r, "application/json", "text/plain", "application/x-www-form-urlencoded")
	if err != nil {
		return err
	}
	args, err := decodeServiceArgs(svc, body)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "request body: %s", err)
	}
	return a.callService(w, r, s, svc, args)
}

// decodeServiceArgs reads the body of POST /v1/services/{name}: a JSON
// object whose fields are the service's arguments, each at most once,
// numbers as json.Number; an empty body gives none.
func decodeServiceArgs(svc graphql.Service, body []byte) (map[string]any, error) {
	args := map[string]any{}
	if skipSpace(body, 0, "") == len(body) {
		return args, nil
	}
	fields := map[string]*jsonField{}
	for _, arg := range svc.Args {
		fields[arg.Name] = &jsonField{}
	}
	if err := decodeObject(body, fields); err != nil {
		if len(svc.Args) == 0 && strings.Contains(err.Error(), "unknown field") {
			return nil, fmt.Errorf("%s: service %s takes no arguments", strings.TrimSuffix(err.Error(), " (want )"), svc.Name)
		}
		return nil, err
	}
	for _, arg := range svc.Args {
		f := fields[arg.Name]
		if !f.set {
			continue
		}
		v, err := decodeJSON(f.raw)
		if err != nil {
			return nil, fmt.Errorf("%s: argument %s: %v", bodyPosition(f.body, f.off), arg.Name, err)
		}
		args[arg.Name] = v
	}
	return args, nil
}

// getService calls the path's service, a query, with the arguments in
// the URL's query.
func (a *api) getService(w http.ResponseWriter, r *http.Request) error {
	s, svc, err := a.serviceSchema(r)
	if err != nil {
		return err
	}
	if svc.Mutation {
		w.Header().Set("Allow", http.MethodPost)
		return apiErrorf(http.StatusMethodNotAllowed, "GET /v1/services/%s: the service is a mutation, which needs POST (a GET only queries)", svc.Name)
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "query %q: %v", r.URL.RawQuery, err)
	}
	args, err := queryServiceArgs(s, svc, values)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	return a.callService(w, r, s, svc, args)
}

// queryServiceArgs reads the arguments of a GET: an argument of a
// string or enum type is its text, any other its JSON.
func queryServiceArgs(s *graphql.Schema, svc graphql.Service, values url.Values) (map[string]any, error) {
	args := map[string]any{}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.ContainsFunc(svc.Args, func(arg graphql.ServiceArg) bool { return arg.Name == name }) {
			return nil, fmt.Errorf("parameter %q: service %s has no such argument", name, svc.Name)
		}
		if n := len(values[name]); n > 1 {
			return nil, fmt.Errorf("argument %s: given %d times, want once", name, n)
		}
		text := values.Get(name)
		if s.StringArg(svc.Name, name) {
			args[name] = text
			continue
		}
		v, err := decodeJSON([]byte(text))
		if err != nil || skipSpace([]byte(text), 0, "") == len(text) {
			return nil, fmt.Errorf("argument %s: %q is not JSON, as a value of its type is written here (?first=10, ?tags=[\"a\"])", name, text)
		}
		if err := checkJSONValue([]byte(text)); err != nil {
			return nil, fmt.Errorf("argument %s: %v", name, err)
		}
		args[name] = v
	}
	return args, nil
}

// checkJSONValue refuses data after one JSON value, which decodeJSON
// leaves unread.
func checkJSONValue(b []byte) error {
	var raw json.RawMessage
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	if end := skipSpace(b, int(dec.InputOffset()), ""); end < len(b) {
		return fmt.Errorf("%s: data after the value", bodyPosition(b, end))
	}
	return nil
}

// callService calls the service with the caller's rights, within the
// API's timeout and GraphQL limits, and answers its result.
func (a *api) callService(w http.ResponseWriter, r *http.Request, s *graphql.Schema, svc graphql.Service, args map[string]any) error {
	rights := rightsOn(r, s.Model()) // the schema's model: one model for both
	ctx, cancel := a.context(r)
	defer cancel()
	d := &clusterData{a: a, r: r.WithContext(ctx), m: s.Model()}
	res, err := graphql.CallService(graphql.ServiceRequest{Schema: s, Service: svc.Name, Args: args, Data: d, Rights: rights,
		Limits: a.opts.GraphQL, Context: ctx})
	if err != nil {
		return serviceError(svc.Name, err)
	}
	raw, err := serviceResult(r, s.Model(), res)
	if err != nil {
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	respond(w, http.StatusOK, ServiceResultBody{Result: raw})
	return nil
}

// serviceError is the answer to a call that failed (the package doc
// above has the statuses): the status service.Errorf gave it, else that
// of its code, which CallService's refusals and the storage's failures
// (clusterData.fail) carry.
func serviceError(name string, err error) error {
	var se *service.Error
	var ce *graphql.CodedError
	var sp *graphql.ServicePanic
	switch {
	case errors.As(err, &se):
		return apiErrorf(se.Status, "service %s: %s", name, se.Msg)
	case errors.As(err, &sp):
		// LogServicePanic logged what it was.
		return apiErrorf(http.StatusInternalServerError, "%s", sp)
	case errors.As(err, &ce):
		// A storage failure's cause was logged where it was coded
		// (clusterData.fail).
		if status, ok := graphql.CodeStatus(ce.Code); ok {
			return apiErrorf(status, "service %s: %s", name, err)
		}
	case errors.Is(err, graphql.ErrNoService):
		return apiErrorf(http.StatusNotFound, "service %s: %s", name, err)
	case errors.Is(err, graphql.ErrCondition):
		return apiErrorf(http.StatusPreconditionFailed, "service %s: %s", name, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return apiErrorf(http.StatusGatewayTimeout, "service %s: %s (%s)", name, ErrUnknownOutcome, err)
	}
	e := apiErrorf(http.StatusInternalServerError, "service %s failed: %s", name, err)
	e.cause = fmt.Errorf("service %s: %w", name, err)
	return e
}

// LogServicePanic logs a service's panic (graphql.PanicLogger), which
// its caller is told nothing of.
func (d *clusterData) LogServicePanic(p *graphql.ServicePanic) {
	d.a.log.Error("service panicked", "service", p.Service, "panic", fmt.Sprint(p.Value), "stack", string(p.Stack))
}

// serviceResult renders a result: objects of the model as ObjectBody,
// trimmed to the fields the caller may read as the data API trims them
// (fieldsOf).
func serviceResult(r *http.Request, m *model.Model, res graphql.ServiceResult) (json.RawMessage, error) {
	var render func(v any) (any, error)
	render = func(v any) (any, error) {
		switch x := v.(type) {
		case []any:
			out := make([]any, len(x))
			for i, item := range x {
				y, err := render(item)
				if err != nil {
					return nil, err
				}
				out[i] = y
			}
			return out, nil
		case graphql.Stored:
			t, ok := m.Type(res.Type)
			if !ok {
				return nil, fmt.Errorf("an object of %q, a type the model lacks", res.Type)
			}
			value, err := fieldsOf(r, t, false).trim(model.Encode(x.Object))
			if err != nil {
				return nil, fmt.Errorf("an object of %s that does not encode as JSON: %w", t.Name, err)
			}
			return ObjectBody{Type: t.Name, Key: t.KeyString(x.Key), Version: x.Version, Revision: uint64(max(x.Revision, 0)),
				Object: value}, nil
		}
		return v, nil
	}
	v, err := render(res.Value)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("the result does not encode as JSON: %w", err)
	}
	return raw, nil
}
