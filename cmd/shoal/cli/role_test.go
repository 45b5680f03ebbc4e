package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/live"
)

// TestRoleSetFields: role set hands entries on fields (Type.field, and
// -Type.field, which the flag package would take for a flag anywhere
// but after --read or --write) to the API as they are, and prints the
// role the API answers.
func TestRoleSetFields(t *testing.T) {
	var got struct {
		method, path string
		body         map[string][]string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &got.body); err != nil {
			t.Errorf("role set sent %q: %v", b, err)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(live.RoleBody{Name: "crm", Read: got.body["read"], Write: got.body["write"]})
	}))
	defer srv.Close()
	code, out, errs := shoal(t, "role", "set", "crm", "--read", "Customer.name,Customer.email", "--read", "Order", "--read", "-Order.total",
		"--write", "Customer.tier", "--addr", srv.URL)
	if code != exitValid {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if got.method != http.MethodPut || got.path != "/v1/roles/crm" ||
		strings.Join(got.body["read"], " ") != "Customer.name Customer.email Order -Order.total" || strings.Join(got.body["write"], " ") != "Customer.tier" {
		t.Errorf("role set sent %s %s %v", got.method, got.path, got.body)
	}
	if want := "role crm: read Customer.name,Customer.email,Order,-Order.total; write Customer.tier\n"; out != want {
		t.Errorf("role set printed %q, want %q", out, want)
	}
	code, _, errs = shoal(t, "role", "set", "--help")
	if code != exitValid && code != exitUsage || !strings.Contains(errs, "-Customer.salary withholds one field") || !strings.Contains(errs, "Type.field, -Type.field") {
		t.Errorf("role set --help: exit %d, %q", code, errs)
	}
}
