package graphql

import (
	"errors"
	"testing"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/model"
)

// failingData fails every write with a coded error, as core/live's
// cluster does when no leader can be reached, and every read with an
// error of no code.
type failingData struct{ *memData }

func (failingData) Put(string, string, model.Object, Condition) (Stored, error) {
	return Stored{}, &CodedError{Code: "unavailable", Err: errors.New("unavailable, nothing was done")}
}

func (failingData) List(string, api.Filters, api.Order, string, int) (api.Page[Stored], error) {
	return api.Page[Stored]{}, errors.New("the outcome is unknown")
}

// A field's error says its code in extensions.code when the executor or
// Data knows it, and carries none when not.
func TestErrorCodes(t *testing.T) {
	s := exampleSchema(t)
	d := seed(t, s)
	customer := `{id: "c1", first_name: "Di", last_name: "Q", created: "2024-06-01T00:00:00Z", tier: gold, newsletter: false}`
	for _, tc := range []struct {
		name, query string
		data        Data
		code        string
	}{
		{"insert exists", `mutation { insertCustomer(object: ` + customer + `) { id } }`, d, CodeConflict},
		{"put if revision", `mutation { putCustomer(object: ` + customer + `, ifRevision: 99) { id } }`, d, CodePreconditionFailed},
		{"update if revision", `mutation { updateCustomer(id: "c1", patch: {tier: basic}, ifRevision: 99) { id } }`, d, CodePreconditionFailed},
		{"update missing", `mutation { updateCustomer(id: "zz", patch: {tier: basic}) { id } }`, d, CodeNotFound},
		{"delete if revision", `mutation { deleteCustomer(id: "c1", ifRevision: 99) { id } }`, d, CodePreconditionFailed},
		{"data's code", `mutation { putCustomer(object: ` + customer + `) { id } }`, failingData{d}, "unavailable"},
		{"no code", `{ Customers { edges { node { id } } } }`, failingData{d}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := Execute(Request{Schema: s, Query: tc.query, Data: tc.data})
			if len(resp.Errors) != 1 {
				t.Fatalf("errors %v, want one", resp.Errors)
			}
			code, _ := resp.Errors[0].Extensions["code"].(string)
			if code != tc.code {
				t.Errorf("%q: code %q, want %q", resp.Errors[0].Message, code, tc.code)
			}
		})
	}
}
