package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/scenarios/rundir"
)

func TestHuntUsageErrors(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"sim", "hunt", "extra"},
		{"sim", "hunt", "--runs", "-1"},
		{"sim", "hunt", "--budget", "-1s"},
		{"sim", "hunt", "--budget", "0"},
		{"sim", "hunt", "--shrink-runs", "0"},
		{"sim", "hunt", "--scenario-base", "no-such-scenario"},
		{"sim", "hunt", "--scenario-base", filepath.Join(dir, "missing.yaml")},
		{"sim", "hunt", "--bug", "skip-sync-typo"},
		{"sim", "hunt", "--runs", "1", "--out", full},
	} {
		code, _, errs := shoal(t, args...)
		if code != exitUsage || errs == "" {
			t.Errorf("shoal %s: exit %d, stderr %q; want exit 3 and a message", strings.Join(args, " "), code, errs)
		}
	}
}

// TestHuntWithoutAFailure: a clean build's hunt over a few schedules
// finds nothing, says how many it tried and exits 0.
func TestHuntWithoutAFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hunt")
	code, out, errs := shoal(t, "sim", "hunt", "--seed", "9", "--budget", "0", "--runs", "3", "--out", dir)
	if code != exitValid || !strings.Contains(out, "tried 3 schedules in ") || !strings.Contains(out, ": no failure") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var sum huntSummary
	if err := rundir.ReadJSON(dir, huntSummaryFile, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Tried != 3 || sum.Found != nil || sum.Seed != 9 || sum.ExitCode != exitValid {
		t.Fatalf("hunt.json: %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(dir, huntMinimalFile)); err == nil {
		t.Error("a hunt that found nothing wrote a minimal scenario")
	}
}
