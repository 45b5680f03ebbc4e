package library

import (
	"encoding/hex"
	"testing"

	"github.com/shoaldb/shoal/scenarios/replaytest"
	"github.com/shoaldb/shoal/scenarios/runner"
)

// TestEveryScenarioReplaysAcrossProcesses runs every built-in scenario
// here and again in fresh processes with GOMAXPROCS 1 and 2: the traces
// must be identical, byte for byte (DESIGN.md, "The determinism
// contract").
func TestEveryScenarioReplaysAcrossProcesses(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			replaytest.Check(t, func(tb testing.TB) [32]byte {
				s, err := Load(name)
				if err != nil {
					tb.Fatal(err)
				}
				o, err := runner.Run(s, runner.Options{Seed: 1})
				if err != nil {
					tb.Fatal(err)
				}
				var h [32]byte
				if _, err := hex.Decode(h[:], []byte(o.Meta.TraceSHA256)); err != nil {
					tb.Fatal(err)
				}
				return h
			})
		})
	}
}
