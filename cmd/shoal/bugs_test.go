//go:build shoalbugs

package main

import (
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
