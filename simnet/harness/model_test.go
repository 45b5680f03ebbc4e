package harness

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet/client"
)

func exampleModel(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../scenarios/examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// putCustomer is a write of Customer id at version 1 of the example model.
func putCustomer(id string) client.Op {
	v := fmt.Sprintf(`{"id": %q, "name": "Ada %s", "email": "%s@example.com", "created": "2026-01-02T03:04:05Z"}`, id, id, id)
	return client.Op{F: kv.OpPutObject, Key: id, Label: "Customer/" + id,
		Object: &kv.ObjectRequest{Type: "Customer", Version: 1, Value: []byte(v)}}
}

// results maps each traced proposal ID to its prop.result record.
func results(recs []env.Record) map[string]env.Record {
	out := map[string]env.Record{}
	for _, r := range recs {
		if r.Kind == "prop.result" {
			id, _ := r.Str("id")
			out[id] = r
		}
	}
	return out
}

// TestModelChangeMigratesStoredObjects writes Customers at version 1 under
// the example model (whose latest Customer is version 2), changes the
// model to one whose latest is version 3, and checks that the change
// was accepted through both phases and that the background migration
// rewrote every stored Customer on every replica to version 3, keeping
// its revision and its unique index entry.
func TestModelChangeMigratesStoredObjects(t *testing.T) {
	w, c := start(t, 1, Topology{Instances: 6, ReplicationFactor: 3, Model: exampleModel(t, "model.yaml")}, node.Config{})
	const n = 40
	var ops []client.Op
	for i := range n {
		ops = append(ops, putCustomer(fmt.Sprintf("c%d", i)))
	}
	var st client.Stats
	if _, err := c.AddClients(1, client.Config{Target: "leader", Interval: 5 * time.Millisecond, Stats: &st, Delay: 2 * time.Second},
		func(int) client.Workload { return &client.List{Ops: ops} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 5*time.Second)
	if st.OK != n {
		t.Fatalf("%d of %d writes ok (%d failed, %d unknown)", st.OK, n, st.Fail, st.Info)
	}
	// Stored at the latest version of the model in force: 2.
	next := exampleModel(t, "model-next.yaml")
	c.Propose("n1", "config", "change", cluster.ProposeModel(next).Encode(), 5*time.Second)
	runUntil(t, w, 10*time.Second)
	recs := records(t, w)
	if r, ok := results(recs)["change"]; !ok || must(r.Str("outcome")) != "ok" {
		t.Fatalf("the model change ended %v, want ok", r)
	}
	votes := 0
	for _, r := range recs {
		if r.Kind == "model.vote" {
			votes++
			if reason, _ := r.Str("reason"); reason != "" {
				t.Errorf("%s voted against the model: %s", r.Node, reason)
			}
		}
	}
	if votes != 2 {
		t.Errorf("%d votes, want one per replicaset (2)", votes)
	}
	m, err := model.Parse("next", next)
	if err != nil {
		t.Fatal(err)
	}
	customer, _ := m.Type("Customer")
	stored := 0
	for _, name := range c.Instances() {
		conf := c.Node(name).Configuration()
		if len(conf.Models) != 2 || conf.Models[1].Digest != m.Digest() {
			t.Fatalf("%s has models %v, want the example and its successor", name, conf.Models)
		}
		in, _ := conf.Instance(name)
		objs, err := c.Node(name).StoredObjects(in.Replicaset, "Customer")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			stored++
			if o.Version != 3 {
				t.Errorf("%s stores %s at version %d, want 3", name, customer.KeyString(o.PK), o.Version)
				continue
			}
			obj, err := model.Decode(o.Value)
			if err != nil {
				t.Fatal(err)
			}
			if err := customer.Check(3, obj); err != nil {
				t.Errorf("%s: %s: %v", name, customer.KeyString(o.PK), err)
			}
			if obj["name"] == nil || !strings.HasPrefix(obj["name"].(string), "Ada ") || obj["level"] != "basic" {
				t.Errorf("%s: %s migrated to %s", name, customer.KeyString(o.PK), o.Value)
			}
			if len(o.Indexes) != 2 {
				t.Errorf("%s: %s has index entries %v, want by_email and by_tier", name, customer.KeyString(o.PK), o.Indexes)
			}
		}
	}
	// Every Customer is stored on the 3 replicas of its replicaset.
	if stored != 3*n {
		t.Errorf("%d stored Customers over all replicas, want %d", stored, 3*n)
	}
}

// TestModelVotedDown proposes a model whose migration names a function
// no instance's binary registered: group 0 takes the proposal (another
// binary might have the function), the replicasets' leaders vote it
// down, and the proposal fails with their reason; the model in force
// stays.
func TestModelVotedDown(t *testing.T) {
	first := exampleModel(t, "model.yaml")
	w, c := start(t, 1, Topology{Instances: 3, Model: first}, node.Config{})
	bad := strings.Replace(string(first), "          - add: {field: newsletter, type: bool, default: false}\n",
		"          - add: {field: newsletter, type: bool, default: false}\n          - func: no-such-function\n", 1)
	if bad == string(first) {
		t.Fatal("the example model changed: the test's edit no longer applies")
	}
	// A version 2 that a function produces: give Customer a version 3 so
	// that the model is a successor.
	bad = strings.Replace(bad, "  Product:\n", `      - version: 3
        migrate:
          - func: no-such-function
        fields:
          id: string
          first_name: string
          last_name: string
          email: string?
          created: timestamp
          tier: {enum: [basic, gold]}
          newsletter: bool

  Product:
`, 1)
	bad = strings.Replace(bad, "          - add: {field: newsletter, type: bool, default: false}\n          - func: no-such-function\n",
		"          - add: {field: newsletter, type: bool, default: false}\n", 1)
	if _, err := model.ParseWith("bad", []byte(bad), model.Options{AllowUnknownFuncs: true}); err != nil {
		t.Fatalf("the test's model does not parse even allowing unknown functions: %v", err)
	}
	runUntil(t, w, 3*time.Second)
	c.Propose("n1", "config", "change", cluster.ProposeModel([]byte(bad)).Encode(), 5*time.Second)
	runUntil(t, w, 6*time.Second)
	r, ok := results(records(t, w))["change"]
	if !ok || must(r.Str("outcome")) != "fail" || !strings.Contains(must(r.Str("error")), `"no-such-function"`) {
		t.Fatalf("the change ended %v, want fail naming the missing function", r)
	}
	conf := c.Node("n2").Configuration()
	if len(conf.Models) != 1 || conf.ModelChange != nil || conf.ModelAbort == nil {
		t.Errorf("n2's configuration: %d models, change %v, abort %v; want the first model alone and the abort", len(conf.Models), conf.ModelChange, conf.ModelAbort)
	}
}

// TestInvalidObjectsAreRefused sends objects that break the model: each
// fails with the JSON path of the problem, and nothing is stored.
func TestInvalidObjectsAreRefused(t *testing.T) {
	w, c := start(t, 1, Topology{Instances: 3, Model: exampleModel(t, "model.yaml")}, node.Config{})
	bad := []struct{ value, want string }{
		{`{"id": "c1", "name": 7, "email": null, "created": "2026-01-02T03:04:05Z"}`, "$.name: expected string, got number"},
		{`{"id": "c1", "name": "x", "created": "yesterday"}`, "$.created"},
		{`{"id": "c1", "nmae": "x", "created": "2026-01-02T03:04:05Z"}`, `did you mean name?`},
	}
	var ops []client.Op
	for _, b := range bad {
		ops = append(ops, client.Op{F: kv.OpPutObject, Key: "c1", Label: "Customer/c1",
			Object: &kv.ObjectRequest{Type: "Customer", Version: 1, Value: []byte(b.value)}})
	}
	if _, err := c.AddClients(1, client.Config{Target: "leader", Interval: 50 * time.Millisecond, Delay: 2 * time.Second},
		func(int) client.Workload { return &client.List{Ops: ops} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 5*time.Second)
	got := 0
	for _, o := range history(t, records(t, w)) {
		if o.f != "write-object" {
			continue
		}
		if o.outcome != "fail" || !strings.Contains(o.note, bad[got].want) {
			t.Errorf("write %d ended %s (%s), want fail naming %q", got, o.outcome, o.note, bad[got].want)
		}
		got++
	}
	if got != len(bad) {
		t.Fatalf("%d writes in the history, want %d", got, len(bad))
	}
	for _, name := range c.Instances() {
		objs, err := c.Node(name).StoredObjects("rs1", "Customer")
		if err != nil || len(objs) != 0 {
			t.Errorf("%s stores %d Customers (%v), want none", name, len(objs), err)
		}
	}
}

func must[T any](v T, _ bool) T { return v }
