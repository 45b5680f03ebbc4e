// Package service holds custom services: Go functions registered by
// name, which shoal serves as fields of GraphQL's Query or Mutation
// (core/graphql) and as REST endpoints, POST /v1/services/{name}
// (core/live). They are to reads and writes what core/handler's custom
// handlers are to pipelines: business logic that a binary adds to shoal
// by registering it from an init function, before it hands the command
// line to cli.Main (cmd/shoal/examples/customservice is such a binary).
//
// A service declares its arguments and result in GraphQL's types over
// the model's schema ("String!", "Int64", "CustomerInput", "[Order!]!",
// "JSON"), whether it is a Mutation (it may write) or a query, and the
// model types it Reads and Writes. A caller needs read of the whole of
// each of Reads and write of the whole of each of Writes (else a field
// error in GraphQL, 403 in REST): its function sees whole objects, so a
// role that grants some fields of a type (Customer.email), or withholds
// one (-Customer.salary), may not call a service that reads the type.
// The function's Context serves those types only. A model
// that lacks a type a service names leaves the service out of its
// schema; core/graphql's Schema.ServiceErrors says why, and the REST
// endpoint answers it.
//
// The function gets its arguments as Go values (Int64 as int64, Decimal
// as string, Timestamp as time.Time: graphql.ServiceArg has the list; an
// argument with a default given as null takes its default) and the
// storage through its Context: Get by key, List with core/api's filters
// (build their query with url.Values, never by joining text), Put and
// Delete on conditions, each call counted against the request's limits.
// It returns an object of the model as a graphql.Stored (or a slice of
// them), which GraphQL completes as any object of its type
// (sub-selections, relations and rights apply) and REST renders as GET
// /v1/data/{type}/{key} does, with the fields the caller may not read
// left out; or a scalar, or JSON, as Go values encoding/json encodes.
//
// An error of the function is the field's error in GraphQL, with its
// code as extensions.code when it has one (graphql.CodedError). In REST
// its status is the one Errorf gave it, or the status of its code (a
// storage error keeps the code the storage gave it: 503 unavailable,
// 504 outcome unknown, ...; a failed condition of a write is 412); any
// other error is 500, the service failed. A panic is 500 too, logged,
// and its caller told no more than that the service failed.
//
// Services run in the engine's request path: a function must not start
// goroutines, read the clock or keep state between calls; what it needs
// comes from its arguments and its Context.
package service

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/graphql"
)

// Service is a service: its name, documentation, arguments, result type,
// kind (query or mutation), the types it reads and writes, and its
// function. graphql.Service documents each field.
type Service = graphql.Service

// Arg is an argument of a service (graphql.ServiceArg).
type Arg = graphql.ServiceArg

// Context is what a service's function may do while it runs
// (graphql.ServiceCall): Context for the request's context.Context, Get,
// List (with Filters) of the types it reads, Put and Delete of those it
// writes.
type Context = graphql.ServiceCall

// Func is a service's function: args are its arguments as Go values;
// the result is a value of its type, the error its failure.
type Func = func(c *Context, args map[string]any) (any, error)

// registry is a set of services by name. It is frozen once it has been
// listed, for a schema may have been built from the list: a service
// registered after it would be served by some schemas and not others.
type registry struct {
	services map[string]Service
	frozen   bool
}

// registered holds the services registered from init functions, before
// any schema is built.
var registered = &registry{services: map[string]Service{}}

// Register makes a service available under its name. Call it from an
// init function (in the manner of database/sql drivers). It panics when
// the service is not valid (graphql.CheckService: its name, argument
// names and types as text, a query that declares writes, no function),
// its name is taken, or Registered has been called: services are
// registered before they are served.
func Register(s Service) { registered.register(s) }

func (r *registry) register(s Service) {
	if r.frozen {
		panic(fmt.Sprintf("service: Register(%q) after Registered: register services from init functions, before any is served", s.Name))
	}
	if err := graphql.CheckService(s); err != nil {
		panic(fmt.Sprintf("service: Register: %v", err))
	}
	if _, ok := r.services[s.Name]; ok {
		panic(fmt.Sprintf("service: Register: %q is already registered", s.Name))
	}
	r.services[s.Name] = s.Clone()
}

// Registered returns the registered services, sorted by name: copies,
// which the caller may change. No service can be registered after it.
func Registered() []Service { return registered.list() }

func (r *registry) list() []Service {
	r.frozen = true
	out := make([]Service, 0, len(r.services))
	for _, s := range r.services { //detlint:unordered sorted below
		out = append(out, s.Clone())
	}
	slices.SortFunc(out, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Error is an error of a service that says which HTTP status the REST
// endpoint answers it with. GraphQL shows its message alone, and the
// code of its status (graphql.StatusCode) as extensions.code.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Errorf makes an error that REST answers with status, a 4xx (the
// caller's fault: 400 bad input, 404 not found, 409 conflict, 412 a
// condition that does not hold, 422 refused) or a 5xx; any other status
// is taken as 500. It is an *Error in a graphql.CodedError of its
// status's code (404: not_found), which GraphQL answers as
// extensions.code.
func Errorf(status int, format string, args ...any) error {
	if status < 400 || status > 599 {
		status = 500
	}
	return &graphql.CodedError{Code: graphql.StatusCode(status), Err: &Error{Status: status, Msg: fmt.Sprintf(format, args...)}}
}
