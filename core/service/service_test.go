package service

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/graphql"
)

func answer(*Context, map[string]any) (any, error) { return 42, nil }

// panicOf runs f and returns what it panicked with, "" for nothing.
func panicOf(f func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg, _ = p.(string)
		}
	}()
	f()
	return ""
}

// TestRegister: valid services are registered once and listed by name;
// an invalid or taken name panics, saying why. It registers in a
// registry of its own, so that it runs again (-count=2) as it ran.
func TestRegister(t *testing.T) {
	r := &registry{services: map[string]Service{}}
	r.register(Service{Name: "zeta", Returns: "Int!", Func: answer})
	r.register(Service{Name: "alpha", Returns: "[Order!]!", Reads: []string{"Order"}, Func: answer,
		Args: []Arg{{Name: "customer", Type: "String!"}, {Name: "first", Type: "Int", Default: "10"}}})
	for _, c := range []struct {
		s    Service
		want string
	}{
		{Service{Name: "zeta", Returns: "Int", Func: answer}, `service: Register: "zeta" is already registered`},
		{Service{Name: "Zeta", Returns: "Int", Func: answer}, `service: Register: service "Zeta": a service's name is a lower-case letter, then letters, digits and _ (at most 64 bytes)`},
		{Service{Name: "noFunc", Returns: "Int"}, "service: Register: service noFunc: no function"},
		{Service{Name: "noType", Func: answer}, `service: Register: service noType: returns "": want a type such as String!, [Order!] or Customer`},
		{Service{Name: "writer", Returns: "Int", Writes: []string{"Order"}, Func: answer}, "service: Register: service writer: a query writes nothing, but it declares writes of Order: make it a mutation"},
	} {
		if got := panicOf(func() { r.register(c.s) }); got != c.want {
			t.Errorf("Register(%s): panic %q, want %q", c.s.Name, got, c.want)
		}
	}
	listed := r.list()
	var names []string
	for _, s := range listed {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "alpha zeta" {
		t.Errorf("Registered: %s", got)
	}
	// What it lists is a copy.
	listed[0].Args[0].Name, listed[0].Reads[0] = "x", "Product"
	if again := r.list(); again[0].Args[0].Name != "customer" || again[0].Reads[0] != "Order" {
		t.Errorf("the registered service changed: %+v", again[0])
	}
	// Listed, the registry is frozen.
	want := `service: Register("late") after Registered: register services from init functions, before any is served`
	if got := panicOf(func() { r.register(Service{Name: "late", Returns: "Int", Func: answer}) }); got != want {
		t.Errorf("Register after Registered: panic %q, want %q", got, want)
	}
}

// TestErrorf: the status of an error, and its code for GraphQL.
func TestErrorf(t *testing.T) {
	for _, c := range []struct {
		status, want int
		code         string
	}{
		{http.StatusNotFound, 404, "not_found"},
		{http.StatusConflict, 409, "conflict"},
		{http.StatusPreconditionFailed, 412, "precondition_failed"},
		{http.StatusUnprocessableEntity, 422, "refused"},
		{http.StatusTeapot, 418, "error"},
		{http.StatusServiceUnavailable, 503, "unavailable"},
		{0, 500, "internal"},
		{200, 500, "internal"},
		{302, 500, "internal"},
		{600, 500, "internal"},
	} {
		err := Errorf(c.status, "order %s does not exist", "o1")
		var se *Error
		var ce *graphql.CodedError
		if !errors.As(err, &se) || se.Status != c.want || err.Error() != "order o1 does not exist" || !errors.As(err, &ce) || ce.Code != c.code {
			t.Errorf("Errorf(%d): %#v, want status %d, code %s", c.status, err, c.want, c.code)
		}
	}
}
