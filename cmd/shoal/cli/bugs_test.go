//go:build shoalbugs

package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/scenarios/rundir"
)

// A planted bug switched on with --bug makes leader-isolation invalid, is
// recorded in meta.json, and replays: the replay switches it on again.
func TestSimRunWithAPlantedBug(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	code, out, errs := shoal(t, "sim", "run", "leader-isolation", "--seed", "1", "--bug", "stale-local-read", "--out", dir)
	if code != exitInvalid || !strings.Contains(out, "planted bugs: stale-local-read") ||
		!strings.Contains(out, "NOT as expected") || !strings.Contains(out, "linearizable  invalid") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var meta rundir.Meta
	if err := rundir.ReadJSON(dir, rundir.MetaFile, &meta); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(meta.Bugs, []string{"stale-local-read"}) || !strings.HasSuffix(meta.Command, "--bug stale-local-read") {
		t.Fatalf("meta = %+v", meta)
	}
	code, out = shoalProcess(t, "2", "sim", "replay", dir)
	if code != exitInvalid || !strings.Contains(out, "replay identical") {
		t.Fatalf("replay: exit %d\n%s", code, out)
	}
}

// A sweep under a planted bug keeps the run directory of every seed that
// did not pass, and each replays.
func TestSweepKeepsFailingSeeds(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sweep")
	code, stdout, errs := shoal(t, "sim", "sweep", "leader-isolation", "--seeds", "1..2", "--jobs", "2", "--bug", "stale-local-read", "--out", out)
	if code != exitInvalid {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errs)
	}
	for _, seed := range []string{"seed-1", "seed-2"} {
		dir := filepath.Join(out, seed)
		for _, f := range []string{rundir.ReportFile, rundir.TraceFile, rundir.MetaFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Fatalf("%s: %v", seed, err)
			}
		}
		if code, out := shoalProcess(t, "1", "sim", "replay", dir); code != exitInvalid || !strings.Contains(out, "replay identical") {
			t.Fatalf("replay of %s: exit %d\n%s", seed, code, out)
		}
	}
}
