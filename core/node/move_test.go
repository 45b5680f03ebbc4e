package node

import "testing"

// A move step's ID names the term its leader proposed it in; no other
// ID does, a client's included, whatever its name.
func TestMoveStepTerm(t *testing.T) {
	for _, tc := range []struct {
		id   string
		term uint64
		ok   bool
	}{
		{"mv-n1-import-4-17", 4, true},
		{"mv-shoal-east-1-seal-12-3", 12, true}, // a node name with dashes
		{"mv-n1-import-x-17", 0, false},
		{"mv-n1-import-4-17/5", 0, false}, // a client named like a step, with its sequence
		{"mv-n1-4-17", 0, false},
		{"gov-n1-3-9", 0, false},
		{"q/rs1/1/4", 0, false},
		{"mv-", 0, false},
	} {
		term, ok := moveStepTerm(tc.id)
		if term != tc.term || ok != tc.ok {
			t.Errorf("moveStepTerm(%q) = %d, %v; want %d, %v", tc.id, term, ok, tc.term, tc.ok)
		}
	}
}
