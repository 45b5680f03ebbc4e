package cluster

import (
	"os"
	"strings"
	"testing"
)

func exampleModel(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../scenarios/examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sixInTwo is a configuration of two replicasets that starts with the
// example model.
func sixInTwo(t *testing.T) *Config {
	t.Helper()
	s := spec(3, 4, "", "", "", "", "", "")
	s.Model = []byte(exampleModel(t, "model.yaml"))
	c, err := Bootstrap(s)
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Model(); m == nil || m.Revision != 1 || m.Action != "" {
		t.Fatalf("bootstrapped with model %+v, want revision 1", m)
	}
	return c
}

func mustApply(t *testing.T, c *Config, id string, cmd Command) {
	t.Helper()
	if err := c.ApplyAction(id, cmd); err != nil {
		t.Fatalf("%s: %v", cmd.Op, err)
	}
}

// TestModelChange walks a change through its two phases: proposed, voted
// for by one replicaset (still pending), by the other (accepted); then a
// change voted down, one cancelled, and the refusals on the way.
func TestModelChange(t *testing.T) {
	c := sixInTwo(t)
	next := exampleModel(t, "model-next.yaml")

	mustApply(t, c, "p1", ProposeModel([]byte(next)))
	if c.ModelChange == nil || c.ModelChange.Revision != 2 || c.Model().Revision != 1 {
		t.Fatalf("after the proposal: change %+v, in force %d", c.ModelChange, c.Model().Revision)
	}
	if _, _, decided := c.ModelDecision("p1"); decided {
		t.Fatal("decided before any vote")
	}
	// Another proposal waits its turn; a vote for another revision, or
	// from no replicaset, is refused and changes nothing.
	pending := *c.ModelChange
	other := pending
	other.Revision = 3
	stale := pending
	stale.Action = "p0" // a cancelled change's, of the same revision
	for _, cmd := range []Command{ProposeModel([]byte(next)), VoteModel("rs1", &other, "n1", ""), VoteModel("rs9", &pending, "n1", ""),
		VoteModel("rs1", &stale, "n1", "")} {
		if err := c.Apply(cmd); err == nil {
			t.Errorf("%s %+v: applied, want refused", cmd.Op, cmd)
		}
	}
	mustApply(t, c, "v1", VoteModel("rs1", &pending, "n1", ""))
	if c.ModelChange == nil || len(c.Models) != 1 {
		t.Fatalf("one replicaset of two voted and the change is decided")
	}
	mustApply(t, c, "v2", VoteModel("rs2", &pending, "n2", ""))
	if c.ModelChange != nil || c.Model().Revision != 2 || c.Model().Action != "p1" {
		t.Fatalf("both voted: change %+v, in force %+v", c.ModelChange, c.Model())
	}
	if rev, reason, decided := c.ModelDecision("p1"); !decided || rev != 2 || reason != "" {
		t.Fatalf("ModelDecision(p1) = %d %q %v", rev, reason, decided)
	}
	// Revision 1 is not a successor of 2 (its versions are gone), and 2
	// is unchanged.
	if err := c.Apply(ProposeModel([]byte(exampleModel(t, "model.yaml")))); err == nil || !strings.Contains(err.Error(), "not a successor of revision 2") {
		t.Errorf("proposing revision 1 again: %v", err)
	}
	if err := c.Apply(ProposeModel([]byte(next))); err == nil || !strings.Contains(err.Error(), "unchanged") {
		t.Errorf("proposing revision 2 again: %v", err)
	}

	third := next + "\n  Note:\n    key: [id]\n    versions:\n      - version: 1\n        fields:\n          id: string\n"
	mustApply(t, c, "p2", ProposeModel([]byte(third)))
	mustApply(t, c, "v3", VoteModel("rs2", c.ModelChange, "n2", "no migration function \"f\""))
	if rev, reason, decided := c.ModelDecision("p2"); !decided || rev != 3 || !strings.Contains(reason, `rs2: no migration function "f"`) {
		t.Fatalf("ModelDecision(p2) = %d %q %v, want voted down by rs2", rev, reason, decided)
	}
	if c.Model().Revision != 2 || c.ModelChange != nil {
		t.Fatalf("after a no: in force %d, change %+v", c.Model().Revision, c.ModelChange)
	}

	mustApply(t, c, "p3", ProposeModel([]byte(third)))
	if err := c.Apply(CancelModel(4)); err == nil {
		t.Error("cancelled a revision that is not pending")
	}
	mustApply(t, c, "c1", CancelModel(3))
	if rev, reason, decided := c.ModelDecision("p3"); !decided || rev != 3 || reason != "cancelled by an operator" {
		t.Fatalf("ModelDecision(p3) = %d %q %v, want cancelled", rev, reason, decided)
	}
	// The configuration, models included, survives its encoding.
	d, err := Decode(c.Encode())
	if err != nil || string(d.Encode()) != string(c.Encode()) {
		t.Fatalf("round trip: %v", err)
	}
}

// TestBootstrapRejectsABadModel: a cluster cannot start with a model
// that does not parse.
func TestBootstrapRejectsABadModel(t *testing.T) {
	s := spec(1, 4, "")
	s.Model = []byte("types:\n  a: {}\n")
	if _, err := Bootstrap(s); err == nil {
		t.Fatal("bootstrapped with a bad model")
	}
}
