package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/reports"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// crashEnv names a seed on which a sweep worker run by the test binary
// dies, as a worker that crashes or is killed would.
const crashEnv = "SHOAL_TEST_WORKER_CRASH"

// crashingWorker runs the sweep worker of a test that set crashEnv: it
// exits 7 once it is handed that seed. ok is false for any other command.
func crashingWorker(args []string) (code int, ok bool) {
	crash := os.Getenv(crashEnv)
	if crash == "" || len(args) < 2 || args[0] != "sim" || args[1] != "sweep-worker" {
		return 0, false
	}
	pr, pw := io.Pipe()
	go func() {
		lines := bufio.NewScanner(os.Stdin)
		for lines.Scan() {
			if lines.Text() == crash {
				fmt.Fprintf(os.Stderr, "crashing on seed %s as the test asked\n", crash)
				os.Exit(7)
			}
			fmt.Fprintln(pw, lines.Text())
		}
		pw.Close()
	}()
	code, err := sweepWorker(args[2:], pr, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code, true
}

// shortScenario is a scenario that runs in a fraction of a second: three
// instances, 5s, one partition step.
const shortScenario = `name: short-partition
description: >-
  Three instances serve key-value clients
  while the data leader is cut off for 2s.
cluster: {instances: 3}
workload: {kind: kv, clients: 4, keys: 8, rate: 100}
duration: 5s
nemesis:
  - at: 2s
    fault: partition
    shape: isolate-leader
    for: 2s
final: {heal: true, recover: 2s}
`

func writeShortScenario(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "short.yaml")
	if err := os.WriteFile(path, []byte(shortScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readSummary(t *testing.T, dir string) sweepSummary {
	t.Helper()
	var sum sweepSummary
	if err := rundir.ReadJSON(dir, sweepSummaryJSON, &sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestSimSweep(t *testing.T) {
	path := writeShortScenario(t)
	dir := filepath.Join(t.TempDir(), "sweep")
	code, out, errs := shoal(t, "sim", "sweep", path, "--seeds", "1..4", "--jobs", "2", "--out", dir)
	if code != exitValid {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for seed := 1; seed <= 4; seed++ {
		if !strings.Contains(out, fmt.Sprintf("seed %d: valid (", seed)) {
			t.Errorf("no line for seed %d:\n%s", seed, out)
		}
	}
	for _, want := range []string{"summary: " + filepath.Join(dir, sweepSummaryText), "index: " + filepath.Join(dir, sweepIndexFile), "seeds per hour"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	sum := readSummary(t, dir)
	if len(sum.Seeds) != 4 || sum.Totals.Seeds != 4 || sum.Totals.Valid != 4 || sum.Verdict != checker.Valid || sum.ExitCode != exitValid {
		t.Fatalf("summary.json: %+v", sum)
	}
	for i, r := range sum.Seeds {
		if r.Seed != uint64(i+1) || r.Verdict != checker.Valid || r.Error != "" || r.Dir != "" ||
			len(r.TraceSHA256) != 64 || r.VirtualNS < int64(7*time.Second) || len(r.Results) == 0 {
			t.Errorf("seed entry %d: %+v", i, r)
		}
	}
	if sum.Command != "shoal sim sweep "+path+" --seeds 1..4 --jobs 2" || sum.Jobs != 2 || sum.SeedSpec != "1..4" {
		t.Errorf("summary.json: command %q, jobs %d, seeds %q", sum.Command, sum.Jobs, sum.SeedSpec)
	}
	// Valid seeds leave no run directory; nor do the workers leave a log
	// when they had nothing to say.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{sweepIndexFile, sweepScenarioFile, sweepSummaryJSON, sweepSummaryText}; !slices.Equal(names, want) {
		t.Errorf("the sweep directory holds %v, want %v", names, want)
	}
	index, _ := os.ReadFile(filepath.Join(dir, sweepIndexFile))
	for seed := 1; seed <= 4; seed++ {
		if !strings.Contains(string(index), fmt.Sprintf(`<td class="num">%d</td><td><span class="verdict valid">valid</span>`, seed)) {
			t.Errorf("index.html does not list seed %d", seed)
		}
	}
	text, _ := os.ReadFile(filepath.Join(dir, sweepSummaryText))
	if !strings.Contains(string(text), "4 seeds: 4 valid, 0 invalid") || !strings.Contains(string(text), "seed  verdict  wall") {
		t.Errorf("summary.txt:\n%s", text)
	}
	// The sweep's seed is the same run as sim run's.
	one := filepath.Join(t.TempDir(), "one")
	if code, out, errs := shoal(t, "sim", "run", path, "--seed", "3", "--out", one); code != exitValid || !strings.Contains(out, sum.Seeds[2].TraceSHA256) {
		t.Errorf("sim run --seed 3: exit %d, want trace sha256 %s\n%s\n%s", code, sum.Seeds[2].TraceSHA256, out, errs)
	}
	// A sweep does not write into a directory that holds something.
	if code, _, errs := shoal(t, "sim", "sweep", path, "--seeds", "1", "--out", dir); code != exitUsage || !strings.Contains(errs, "not empty") {
		t.Errorf("sweeping into a used directory: exit %d: %s", code, errs)
	}
}

// A worker that dies with a seed in hand does not hang the sweep: that
// seed is an internal error (exit 4), a new worker takes the seeds left.
func TestSimSweepSurvivesAWorkerThatDies(t *testing.T) {
	t.Setenv(crashEnv, "2")
	path := writeShortScenario(t)
	dir := filepath.Join(t.TempDir(), "sweep")
	code, out, errs := shoal(t, "sim", "sweep", path, "--seeds", "1..5", "--jobs", "2", "--out", dir)
	if code != exitInternal {
		t.Fatalf("exit %d, want 4\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	sum := readSummary(t, dir)
	if len(sum.Seeds) != 5 || sum.Totals.Valid != 4 || sum.Totals.Unknown != 1 || sum.Totals.Errors != 1 || sum.ExitCode != exitInternal {
		t.Fatalf("summary.json totals %+v, exit %d", sum.Totals, sum.ExitCode)
	}
	crashed := sum.Seeds[1]
	if crashed.Verdict != checker.Unknown || !strings.Contains(crashed.Error, "died (exit status 7)") ||
		!strings.Contains(crashed.Error, "crashing on seed 2") {
		t.Errorf("the crashed seed: %+v", crashed)
	}
	if !strings.Contains(out, "seed 2: unknown") || !strings.Contains(out, "internal error") {
		t.Errorf("output:\n%s", out)
	}
	if log, err := os.ReadFile(filepath.Join(dir, sweepWorkersLog)); err != nil || !strings.Contains(string(log), "crashing on seed 2") {
		t.Errorf("workers.log: %q, %v", log, err)
	}
	index, _ := os.ReadFile(filepath.Join(dir, sweepIndexFile))
	if !strings.Contains(string(index), "internal error: worker process") {
		t.Error("index.html does not show the internal error")
	}
}

func TestSimSweepUsageErrors(t *testing.T) {
	path := writeShortScenario(t)
	for _, args := range [][]string{
		{path},
		{path, "--seeds", ""},
		{path, "--seeds", "a"},
		{path, "--seeds", "5..3"},
		{path, "--seeds", "1,,2"},
		{path, "--seeds", "1..2..3"},
		{path, "--seeds", "-1"},
		{path, "--seeds", "+1"},
		{path, "--seeds", "1.5"},
		{path, "--seeds", "1..10,5"},
		{path, "--seeds", "0..2000000"},
		{path, "--seeds", "18446744073709551616"},
		{path, "--seeds", "1..4", "--jobs", "0"},
		{path, "--seeds", "1..4", "--jobs", "many"},
		{path, "--seeds", "1..4", "--bug", "no-such-bug"},
		{"no-such-scenario", "--seeds", "1..4"},
		{"--seeds", "1..4"},
		{path, path, "--seeds", "1..4"},
	} {
		out := filepath.Join(t.TempDir(), "sweep")
		code, _, errs := shoal(t, append([]string{"sim", "sweep", "--out", out}, args...)...)
		if code != exitUsage || errs == "" {
			t.Errorf("shoal sim sweep %s: exit %d, stderr %q; want exit 3 and a message", strings.Join(args, " "), code, errs)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("shoal sim sweep %s: made %s", strings.Join(args, " "), out)
		}
	}
	if _, _, errs := shoal(t, "sim", "sweep", path, "--seeds", "5..3"); !strings.Contains(errs, "runs backwards") {
		t.Errorf("a backwards range: %s", errs)
	}
}

func TestParseSeeds(t *testing.T) {
	for _, c := range []struct {
		spec string
		want []uint64
	}{
		{"7", []uint64{7}},
		{"0", []uint64{0}},
		{"1..4", []uint64{1, 2, 3, 4}},
		{"3..3", []uint64{3}},
		{"10..12, 1 ,5..6", []uint64{10, 11, 12, 1, 5, 6}},
		{"18446744073709551614..18446744073709551615", []uint64{18446744073709551614, 18446744073709551615}},
	} {
		got, err := parseSeeds(c.spec)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseSeeds(%q) = %v, %v; want %v", c.spec, got, err, c.want)
		}
	}
	for spec, want := range map[string]string{
		"":             "an empty item",
		"x..3":         `"x" is not a seed`,
		"4..1":         "the range 4..1 runs backwards",
		"1,2,1":        "seed 1 is given twice",
		"1..5,3":       "seed 3 is given twice",
		"1..":          `"" is not a seed`,
		"1..1000000,0": "more than 1000000 seeds",
	} {
		_, err := parseSeeds(spec)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--seeds "+spec+":") {
			t.Errorf("parseSeeds(%q): %v; want %q", spec, err, want)
		}
	}
}

func TestSweepExitCode(t *testing.T) {
	for _, c := range []struct {
		t    reports.SweepTotals
		want int
	}{
		{reports.SweepTotals{Seeds: 3, Valid: 3}, exitValid},
		{reports.SweepTotals{Seeds: 3, Valid: 2, NA: 1}, exitValid},
		{reports.SweepTotals{Seeds: 3, Valid: 2, Unknown: 1}, exitUnknown},
		{reports.SweepTotals{Seeds: 3, Valid: 2, Unknown: 1, Errors: 1}, exitInternal},
		{reports.SweepTotals{Seeds: 3, Valid: 1, Unknown: 2, Errors: 1}, exitInternal},
		{reports.SweepTotals{Seeds: 3, Valid: 2, Invalid: 1}, exitInvalid},
		{reports.SweepTotals{Seeds: 3, Invalid: 1, Unknown: 2, Errors: 2}, exitInvalid},
	} {
		if got := sweepExitCode(c.t); got != c.want {
			t.Errorf("sweepExitCode(%+v) = %d, want %d", c.t, got, c.want)
		}
	}
}

// fakeWorker runs seeds in the test process: die names the seeds on which
// it dies, block the seed it holds until release is closed.
type fakeWorker struct {
	die     map[uint64]bool
	block   uint64
	release chan struct{}
	closed  bool
}

func (f *fakeWorker) Run(seed uint64) (seedResult, error) {
	if f.closed {
		return seedResult{}, errors.New("closed")
	}
	if f.die[seed] {
		f.closed = true
		return seedResult{}, fmt.Errorf("worker died on %d", seed)
	}
	if seed == f.block {
		<-f.release
	}
	return seedResult{Seed: seed, Verdict: checker.Valid}, nil
}

func (f *fakeWorker) Close() error { f.closed = true; return nil }

func TestDispatch(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	t.Run("a slow seed holds back no other", func(t *testing.T) {
		release := make(chan struct{})
		var order []uint64
		finished := make(chan struct{})
		go func() {
			dispatch(seeds, 2, func() (seedWorker, error) {
				return &fakeWorker{block: 1, release: release}, nil
			}, func(r seedResult) {
				order = append(order, r.Seed)
				if len(order) == len(seeds)-1 {
					close(release) // every other seed finished while seed 1 ran
				}
			})
			close(finished)
		}()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Fatal("dispatch hung: seed 1 held back the others")
		}
		if order[len(order)-1] != 1 {
			t.Errorf("finished in order %v; seed 1 should be last", order)
		}
	})
	t.Run("workers that die or do not start", func(t *testing.T) {
		var mu sync.Mutex
		starts := 0
		var got []seedResult
		dispatch(seeds, 3, func() (seedWorker, error) {
			mu.Lock()
			defer mu.Unlock()
			starts++
			if starts == 2 {
				return nil, errors.New("no such binary")
			}
			return &fakeWorker{die: map[uint64]bool{7: true, 9: true}}, nil
		}, func(r seedResult) { got = append(got, r) })
		slices.SortFunc(got, func(a, b seedResult) int { return int(a.Seed) - int(b.Seed) })
		if len(got) != len(seeds) {
			t.Fatalf("%d results for %d seeds: %+v", len(got), len(seeds), got)
		}
		startFailures := 0
		for i, r := range got {
			if r.Seed != seeds[i] {
				t.Fatalf("results %+v", got)
			}
			if r.Error != "" && r.Verdict != checker.Unknown {
				t.Errorf("seed %d failed internally with verdict %s", r.Seed, r.Verdict)
			}
			switch {
			case strings.Contains(r.Error, "cannot start a worker"):
				startFailures++
			case r.Seed == 7 || r.Seed == 9:
				if r.Error != fmt.Sprintf("worker died on %d", r.Seed) {
					t.Errorf("seed %d: %+v", r.Seed, r)
				}
			case r.Error != "":
				t.Errorf("seed %d: %+v", r.Seed, r)
			}
		}
		if startFailures != 1 {
			t.Errorf("%d seeds met a worker that did not start, want 1: %+v", startFailures, got)
		}
	})
	t.Run("no worker starts", func(t *testing.T) {
		var got []seedResult
		dispatch(seeds, 2, func() (seedWorker, error) { return nil, errors.New("no such binary") },
			func(r seedResult) { got = append(got, r) })
		if len(got) != len(seeds) {
			t.Fatalf("%d results for %d seeds", len(got), len(seeds))
		}
		for _, r := range got {
			if r.Error == "" || r.Verdict != checker.Unknown {
				t.Errorf("%+v", r)
			}
		}
	})
}

func TestSimList(t *testing.T) {
	code, out, errs := shoal(t, "sim", "list")
	if code != exitValid {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(library.Names()) {
		t.Fatalf("%d lines for %d scenarios:\n%s", len(lines), len(library.Names()), out)
	}
	s, err := library.Load("leader-isolation")
	if err != nil {
		t.Fatal(err)
	}
	want := "leader-isolation"
	found := false
	for _, l := range lines {
		if name, desc, _ := strings.Cut(l, " "); name == want {
			found = true
			if strings.TrimSpace(desc) != strings.Join(strings.Fields(s.Description), " ") {
				t.Errorf("leader-isolation's line: %q", l)
			}
		}
	}
	if !found || !strings.Contains(out, "data leader is cut off from every other instance") {
		t.Errorf("sim list lacks leader-isolation:\n%s", out)
	}
	if code, _, _ := shoal(t, "sim", "list", "extra"); code != exitUsage {
		t.Errorf("sim list extra: exit %d", code)
	}
	if _, out, _ := shoal(t, "help"); !strings.Contains(out, "sim sweep") || !strings.Contains(out, "sim list") || strings.Contains(out, "sweep-worker") {
		t.Errorf("help:\n%s", out)
	}
}

// The progress callback sees the virtual time rise to the end, and the
// run's trace is the same with it and without it.
func TestRunProgressKeepsTheTrace(t *testing.T) {
	s, err := scenario.Parse("short.yaml", []byte(shortScenario))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := runner.Run(s, runner.Options{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	var last, lastTotal time.Duration
	watched, err := runner.Run(s, runner.Options{Seed: 4, Progress: func(v, total time.Duration) {
		if v < last || v > total {
			t.Errorf("progress %s of %s after %s", v, total, last)
		}
		calls++
		last, lastTotal = v, total
	}})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Meta.TraceSHA256 != watched.Meta.TraceSHA256 {
		t.Errorf("the trace differs with a progress callback: %s, without %s", watched.Meta.TraceSHA256, plain.Meta.TraceSHA256)
	}
	end := time.Duration(plain.Meta.VirtualNanos)
	// The last 2.1s (settling) run in two steps.
	if calls < int((end-3*time.Second)/runner.ProgressStep) || last != end || lastTotal != end {
		t.Errorf("%d calls, the last %s of %s; the run took %s of virtual time", calls, last, lastTotal, end)
	}
}

func TestStatusLine(t *testing.T) {
	var b strings.Builder
	l := newStatusLine(&b, 20)
	l.set("[1/4] 0 failing, a long line that is cut")
	l.println("seed 3: invalid")
	l.clear()
	want := "\r[1/4] 0 failing, a…\x1b[K" + "\r\x1b[K" + "seed 3: invalid\n" + "\r[1/4] 0 failing, a…\x1b[K" + "\r\x1b[K"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	if _, ok := terminal(&b); ok {
		t.Error("a strings.Builder is no terminal")
	}
}

// The worker protocol, one seed at a time through sweepWorker itself.
func TestSweepWorkerProtocol(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "short.yaml")
	if err := os.WriteFile(path, []byte(shortScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errs strings.Builder
	code, err := sweepWorker([]string{"--scenario", path, "--out", dir, "--source", "short.yaml"}, strings.NewReader("5\n"), &out, &errs)
	if code != exitValid || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, errs.String())
	}
	var r seedResult
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil || !strings.HasSuffix(out.String(), "}\n") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("answer %q: %v", out.String(), err)
	}
	if r.Seed != 5 || r.Verdict != checker.Valid || r.Dir != "" || r.WallMS <= 0 {
		t.Errorf("answer %+v", r)
	}
	if _, err := os.Stat(seedDir(dir, 5)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a valid seed kept its run directory: %v", err)
	}
	code, err = sweepWorker([]string{"--scenario", path, "--out", dir}, strings.NewReader("five\n"), io.Discard, io.Discard)
	if code != exitUsage || err == nil {
		t.Errorf("a line that is no seed: exit %d, %v", code, err)
	}
}
