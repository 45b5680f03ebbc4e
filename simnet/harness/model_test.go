package harness

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
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

// writeAll has one client, from 2s on, send ops to the leader one every
// interval, runs the world until until, and requires every one ok.
func writeAll(t *testing.T, w *simnet.World, c *Cluster, ops []client.Op, interval, until time.Duration) {
	t.Helper()
	var st client.Stats
	if _, err := c.AddClients(1, client.Config{Target: "leader", Interval: interval, Stats: &st, Delay: 2 * time.Second},
		func(int) client.Workload { return &client.List{Ops: ops} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, until)
	if st.OK != len(ops) {
		t.Fatalf("%d of %d writes ok (%d failed, %d unknown)", st.OK, len(ops), st.Fail, st.Info)
	}
}

// putCustomer is a write of Customer id at version 1 of the example model.
func putCustomer(id string) client.Op {
	v := fmt.Sprintf(`{"id": %q, "name": "Ada %s", "email": "%s@example.com", "created": "2026-01-02T03:04:05Z"}`, id, id, id)
	return client.Op{F: kv.OpPutObject, Key: id, Label: "Customer/" + id,
		Object: &kv.ObjectRequest{Type: "Customer", Version: 1, Value: []byte(v)}}
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
	writeAll(t, w, c, ops, 5*time.Millisecond, 5*time.Second)
	// Stored at the latest version of the model in force: 2.
	next := exampleModel(t, "model-next.yaml")
	c.Propose("n1", "config", "change", cluster.ProposeModel(next).Encode(), 5*time.Second)
	runUntil(t, w, 10*time.Second)
	recs := records(t, w)
	if r, ok := outcomes(recs)["change"]; !ok || outcome(r) != "ok" {
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
	r, ok := outcomes(records(t, w))["change"]
	if !ok || outcome(r) != "fail" || !strings.Contains(must(r.Str("error")), `"no-such-function"`) {
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

// answers is a client that keeps the answers it receives, by sequence
// number: what a get-object with history read, which the history events
// of the trace do not show.
type answers struct {
	env.Node
	got map[uint64]*kv.Response
}

func (a *answers) Receive(from env.NodeID, m env.Message) {
	if r, ok := m.(*kv.Response); ok && r.Status == kv.StatusOK {
		a.got[r.Seq] = r
	}
	a.Node.Receive(from, m)
}

// TestObjectHistory writes Customer c1 five times under the example
// model (history: 3), changes the model to its successor (whose latest
// Customer is version 3), and reads c1 with its history through a
// client: the object and exactly its three previous versions, oldest
// first, each stored at version 2 and answered in the shape of version 3.
// A delete then keeps the object in the history: read again
// (linearizable, then stale) there is no object and the three newest
// previous versions.
func TestObjectHistory(t *testing.T) {
	w, c := start(t, 1, Topology{Instances: 3, Model: exampleModel(t, "model.yaml")}, node.Config{})
	var writes []client.Op
	for i := 1; i <= 5; i++ {
		v := fmt.Sprintf(`{"id": "c1", "name": "Ada v%d", "email": "ada@example.com", "created": "2026-01-02T03:04:05Z"}`, i)
		writes = append(writes, client.Op{F: kv.OpPutObject, Key: "c1", Label: "Customer/c1",
			Object: &kv.ObjectRequest{Type: "Customer", Version: 1, Value: []byte(v)}})
	}
	writeAll(t, w, c, writes, 50*time.Millisecond, 4*time.Second)
	next := exampleModel(t, "model-next.yaml")
	c.Propose("n1", "config", "change", cluster.ProposeModel(next).Encode(), 5*time.Second)
	runUntil(t, w, 8*time.Second)
	if r, ok := outcomes(records(t, w))["change"]; !ok || outcome(r) != "ok" {
		t.Fatalf("the model change ended %v, want ok", r)
	}

	read := client.Op{F: kv.OpGetObject, Key: "c1", Label: "Customer/c1", Object: &kv.ObjectRequest{Type: "Customer", PK: model.EncodeKey("c1"), History: true}}
	stale := read
	stale.Stale = true
	del := client.Op{F: kv.OpDeleteObject, Key: "c1", Label: "Customer/c1", Object: &kv.ObjectRequest{Type: "Customer", PK: model.EncodeKey("c1")}}
	reader := &answers{got: map[uint64]*kv.Response{}}
	cfg := client.Config{Servers: c.Names, Target: "leader", Interval: 100 * time.Millisecond, Buckets: c.cfg.Spec.Buckets, Process: 1}
	start := client.Start(cfg, &client.List{Ops: []client.Op{read, del, read, stale}})
	if err := w.AddNode("reader", func(e env.Env) (env.Node, error) {
		n, err := start(e)
		reader.Node = n
		return reader, err
	}); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 10*time.Second)

	m, err := model.Parse("next", next)
	if err != nil {
		t.Fatal(err)
	}
	customer, _ := m.Type("Customer")
	// check checks a record read: Customer c1 named "Ada v<want>" in
	// the shape of version 3.
	check := func(what string, rec *kv.ObjectRecord, want int) {
		t.Helper()
		if rec.Version != 3 {
			t.Errorf("%s: version %d, want 3: %s", what, rec.Version, rec.Value)
			return
		}
		obj, err := model.Decode(rec.Value)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := customer.Check(3, obj); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		if name := fmt.Sprintf("Ada v%d", want); obj["name"] != name {
			t.Errorf("%s: %s, want the one named %q", what, rec.Value, name)
		}
	}
	// checkHistory checks a read's history: the writes first..first+2,
	// oldest first.
	checkHistory := func(what string, r *kv.Response, first int) {
		t.Helper()
		if len(r.History) != 3 {
			t.Fatalf("%s: %d previous versions, want 3 (the type's history)", what, len(r.History))
		}
		for i, h := range r.History {
			if i > 0 && h.Revision <= r.History[i-1].Revision {
				t.Errorf("%s: revision %d after %d: want the oldest first", what, h.Revision, r.History[i-1].Revision)
			}
			check(fmt.Sprintf("%s: previous version %d", what, i), &h, first+i)
		}
	}

	r := reader.got[1]
	if r == nil || r.Object == nil {
		t.Fatalf("the read with history got %+v, want the object", r)
	}
	check("the object", r.Object, 5)
	checkHistory("before the delete", r, 2)
	if last := r.History[2].Revision; last >= r.Object.Revision {
		t.Errorf("the newest previous version has revision %d, the object %d", last, r.Object.Revision)
	}
	if r := reader.got[2]; r == nil || r.Object == nil || r.Object.Revision != reader.got[1].Object.Revision {
		t.Fatalf("the delete got %+v, want it to name the revision deleted", r)
	}
	for _, seq := range []uint64{3, 4} {
		r := reader.got[seq]
		if r == nil {
			t.Fatalf("read %d after the delete got no answer", seq)
		}
		if r.Object != nil {
			t.Errorf("read %d after the delete found the object: %s", seq, r.Object.Value)
		}
		checkHistory(fmt.Sprintf("read %d after the delete", seq), r, 3)
		if r.History[2].Revision != reader.got[1].Object.Revision {
			t.Errorf("read %d after the delete: the newest previous version has revision %d, want the deleted object's %d",
				seq, r.History[2].Revision, reader.got[1].Object.Revision)
		}
	}
	// Every replica keeps the same three, as they were stored: the first
	// two at version 2 (the migration rewrites objects, not their
	// history), the deleted object at version 3 (the migration had
	// rewritten it, or it was stored so). The reads upgraded them.
	for _, name := range c.Instances() {
		kept, err := c.Node(name).ObjectHistory("rs1", "Customer", model.EncodeKey("c1"))
		if err != nil {
			t.Fatal(err)
		}
		if len(kept) != 3 {
			t.Fatalf("%s keeps %d previous versions of c1, want 3", name, len(kept))
		}
		for i, h := range kept {
			if h.Revision != reader.got[3].History[i].Revision {
				t.Errorf("%s keeps revision %d as previous version %d, the read answered %d", name, h.Revision, i, reader.got[3].History[i].Revision)
			}
			if i < 2 && h.Version != 2 {
				t.Errorf("%s keeps previous version %d at version %d, want 2 (as written)", name, i, h.Version)
			}
		}
	}
}

// refuseTwo is a migration that fails on a Note whose n is 2, for
// TestObjectHistoryThatDoesNotUpgrade.
var refuseTwo sync.Once

// TestObjectHistoryThatDoesNotUpgrade: a previous version the model in
// force cannot upgrade is answered as stored, at its own version, and
// neither fails the read nor hides the other versions.
func TestObjectHistoryThatDoesNotUpgrade(t *testing.T) {
	refuseTwo.Do(func() {
		model.RegisterMigration("harness_refuse_two", func(o model.Object) (model.Object, error) {
			if n, _ := o["n"].(int64); n == 2 {
				return nil, fmt.Errorf("n is 2")
			}
			o["twice"] = o["n"].(int64) * 2
			return o, nil
		})
	})
	first := "types:\n  Note:\n    key: [id]\n    history: 3\n    versions:\n      - version: 1\n        fields: {id: string, n: int}\n"
	second := first + "      - version: 2\n        migrate:\n          - func: harness_refuse_two\n        fields: {id: string, n: int, twice: int}\n"
	w, c := start(t, 1, Topology{Instances: 3, Model: []byte(first)}, node.Config{})
	var ops []client.Op
	for n := 1; n <= 4; n++ {
		ops = append(ops, client.Op{F: kv.OpPutObject, Key: "a", Label: "Note/a",
			Object: &kv.ObjectRequest{Type: "Note", Version: 1, Value: []byte(fmt.Sprintf(`{"id": "a", "n": %d}`, n))}})
	}
	writeAll(t, w, c, ops, 50*time.Millisecond, 4*time.Second)
	c.Propose("n1", "config", "change", cluster.ProposeModel([]byte(second)).Encode(), 5*time.Second)
	runUntil(t, w, 8*time.Second)
	if r, ok := outcomes(records(t, w))["change"]; !ok || outcome(r) != "ok" {
		t.Fatalf("the model change ended %v, want ok", r)
	}
	reader := &answers{got: map[uint64]*kv.Response{}}
	cfg := client.Config{Servers: c.Names, Target: "leader", Buckets: c.cfg.Spec.Buckets, Process: 1}
	start := client.Start(cfg, &client.List{Ops: []client.Op{{F: kv.OpGetObject, Key: "a", Label: "Note/a",
		Object: &kv.ObjectRequest{Type: "Note", PK: model.EncodeKey("a"), History: true}}}})
	if err := w.AddNode("reader", func(e env.Env) (env.Node, error) {
		n, err := start(e)
		reader.Node = n
		return reader, err
	}); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 9*time.Second)
	r := reader.got[1]
	if r == nil || r.Object == nil {
		t.Fatalf("the read got %+v, want the object", r)
	}
	got := []string{fmt.Sprintf("%d %s", r.Object.Version, r.Object.Value)}
	for _, h := range r.History {
		got = append(got, fmt.Sprintf("%d %s", h.Version, h.Value))
	}
	want := []string{`2 {"id":"a","n":4,"twice":8}`, `2 {"id":"a","n":1,"twice":2}`, `1 {"id":"a","n":2}`, `2 {"id":"a","n":3,"twice":6}`}
	if !slices.Equal(got, want) {
		t.Fatalf("the object and its history read as\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func must[T any](v T, _ bool) T { return v }

// TestModelChangeCancelled: a change waits for a replicaset that has
// lost its majority (two of its three instances killed) while group 0
// keeps its quorum. It blocks every other change until an operator
// cancels it; its proposer is then answered that it failed, and once the
// replicaset is whole again the same model is accepted.
func TestModelChangeCancelled(t *testing.T) {
	w, c := start(t, 1, Topology{Instances: 6, ReplicationFactor: 3, Model: exampleModel(t, "model.yaml")}, node.Config{})
	runUntil(t, w, 3*time.Second)
	rs2 := c.Members("rs2")
	voters := c.Voters()
	var down []env.NodeID
	for _, name := range rs2 {
		if len(down) < 2 {
			down = append(down, name)
		}
	}
	alive := 0
	for _, v := range voters {
		if !slices.Contains(down, v) {
			alive++
		}
	}
	if alive <= len(voters)/2 {
		t.Fatalf("killing %v leaves %d of group 0's voters %v: no quorum, the test needs one", down, alive, voters)
	}
	for _, name := range down {
		w.Kill(name)
	}
	// An rs2 leader left alone steps down within an election timeout
	// (CheckQuorum); until then it would still vote.
	runUntil(t, w, 5*time.Second)
	if l, ok := c.Leader("rs2"); ok {
		t.Fatalf("%s still leads rs2", l)
	}
	next := exampleModel(t, "model-next.yaml")
	c.Propose("n1", "config", "change", cluster.ProposeModel(next).Encode(), 20*time.Second)
	runUntil(t, w, 8*time.Second)
	conf := c.Node("n1").Configuration()
	if conf.ModelChange == nil || conf.ModelChange.Revision != 2 {
		t.Fatalf("the change is not pending: %+v; models %d, abort %+v; down %v, rs2 %v; %v", conf.ModelChange, len(conf.Models), conf.ModelAbort, down, rs2, outcomes(records(t, w))["change"])
	}
	if _, voted := conf.ModelChange.Votes["rs2"]; voted {
		t.Fatal("rs2 voted without a majority")
	}
	// Another change waits its turn.
	c.Propose("n3", "config", "another", cluster.ProposeModel(exampleModel(t, "model.yaml")).Encode(), 2*time.Second)
	runUntil(t, w, 10*time.Second)
	if r, ok := outcomes(records(t, w))["another"]; !ok || outcome(r) != "fail" || !strings.Contains(must(r.Str("error")), "still being validated") {
		t.Fatalf("a second change while one is pending ended %v, want fail", r)
	}
	c.Propose("n3", "config", "cancel", cluster.CancelModel(2).Encode(), 2*time.Second)
	runUntil(t, w, 12*time.Second)
	res := outcomes(records(t, w))
	if r := res["cancel"]; outcome(r) != "ok" {
		t.Fatalf("the cancellation ended %v, want ok", r)
	}
	if r := res["change"]; outcome(r) != "fail" || !strings.Contains(must(r.Str("error")), "cancelled by an operator") {
		t.Fatalf("the cancelled change ended %v, want fail naming the cancellation", r)
	}
	for _, name := range down {
		w.Restart(name)
	}
	runUntil(t, w, 16*time.Second)
	c.Propose("n5", "config", "again", cluster.ProposeModel(next).Encode(), 5*time.Second)
	runUntil(t, w, 22*time.Second)
	if r := outcomes(records(t, w))["again"]; outcome(r) != "ok" {
		t.Fatalf("the change proposed again ended %v, want ok", r)
	}
	if m := c.Node("n2").Configuration().Model(); m == nil || m.Revision != 2 {
		t.Fatalf("n2's model in force: %+v, want revision 2", m)
	}
}

// TestObjectWriteBeforeTheModel: a write naming a type the leader's
// model lacks (here: no model at all yet) is redirected back to the
// leader, to be asked again once the model has come, rather than refused
// as invalid; the client gives up after its retries, and nothing is
// stored.
func TestObjectWriteBeforeTheModel(t *testing.T) {
	w, c := start(t, 1, Topology{Instances: 3}, node.Config{})
	if _, err := c.AddClients(1, client.Config{Target: "leader", Delay: 2 * time.Second},
		func(int) client.Workload { return &client.List{Ops: []client.Op{putCustomer("c1")}} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 5*time.Second)
	redirects := 0
	for _, r := range records(t, w) {
		if r.Kind == "kv.response" && str(r, "status") == "redirect" && str(r, "hint") == string(r.Node) {
			redirects++
			if e := str(r, "error"); e != "this instance has no data model" {
				t.Errorf("%s redirected with %q", r.Node, e)
			}
		}
		if r.Kind == "kv.response" && str(r, "status") == "invalid" {
			t.Errorf("%s refused the write as invalid: %s", r.Node, str(r, "error"))
		}
	}
	if redirects == 0 {
		t.Fatal("no instance redirected the write to itself")
	}
	ops := history(t, records(t, w))
	if len(ops) != 1 || ops[0].outcome != "fail" {
		t.Fatalf("the write's history %+v, want one failed write", ops)
	}
}

func str(r env.Record, key string) string { v, _ := r.Str(key); return v }
