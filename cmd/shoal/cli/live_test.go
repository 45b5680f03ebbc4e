//go:build !shoalbugs

package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/scenarios/rundir"
)

var liveLibrary = flag.Bool("live-library", false, "run built-in scenarios against real clusters (make test-long)")

// requireValid fails unless every checker that ran found the run valid.
func requireValid(t *testing.T, code int, out string, results rundir.Results) {
	t.Helper()
	if code != exitValid || results.Verdict != checker.Valid {
		t.Fatalf("exit %d, verdict %s\n%s", code, results.Verdict, out)
	}
	ran := map[string]bool{}
	for _, c := range results.Checkers {
		ran[c.Checker] = c.Verdict == checker.Valid
	}
	for _, name := range []string{"linearizable", "raft-safety", "durability", "convergence", "faults"} {
		if !ran[name] {
			t.Errorf("%s did not find the run valid:\n%s", name, out)
		}
	}
}

// A clean build survives its leader being cut off and SIGKILLed, four
// times, and every check says so.
func TestLiveRunKillLeader(t *testing.T) {
	code, out, _, results := liveRun(t, killLeader, "--seed", "1")
	requireValid(t, code, out, results)
	for _, want := range []string{"partition (rs1) isolate-leader", "kill (rs1) killed", "not done as the scenario says: check partitions"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Objects and a model change on a real cluster whose data leader is
// killed, with authentication on (--token): the cluster takes the
// scenario's model before the run begins, the change is accepted
// through the API, the REST history (/v1/data) is linearizable, and the
// model check finds every object alike on every instance, in the new
// model's latest shape. The token is nowhere in the run directory.
func TestLiveRunModel(t *testing.T) {
	token := "live-test-" + strings.Repeat("0123456789", 4)
	code, out, dir, results := liveRun(t, "../../../scenarios/liverun/testdata/model-kill.yaml", "--seed", "1", "--token", token)
	if code != exitValid || results.Verdict != checker.Valid {
		t.Fatalf("exit %d, verdict %s\n%s", code, results.Verdict, out)
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(token)) {
			t.Errorf("%s holds the run's API token", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]checker.Result{}
	for _, c := range results.Checkers {
		ran[c.Checker] = c
	}
	for _, name := range []string{"linearizable", "model", "raft-safety", "convergence", "quorum", "faults"} {
		if ran[name].Verdict != checker.Valid {
			t.Errorf("%s: %s, want valid:\n%s", name, ran[name].Verdict, out)
		}
	}
	if m := ran["model"].Explanation; !strings.Contains(m, "the model changed at") {
		t.Errorf("the model check does not say when the model changed: %s", m)
	}
}

// Objects read, written and deleted through GraphQL on a real cluster
// whose data leader is killed: the history (final reads through REST)
// is linearizable. --objects-api refuses what it cannot run.
func TestLiveRunGraphQL(t *testing.T) {
	code, out, _, results := liveRun(t, "../../../scenarios/liverun/testdata/graphql-kill.yaml", "--seed", "1", "--objects-api", "graphql")
	if code != exitValid || results.Verdict != checker.Valid {
		t.Fatalf("exit %d, verdict %s\n%s", code, results.Verdict, out)
	}
	ran := map[string]checker.Result{}
	for _, c := range results.Checkers {
		ran[c.Checker] = c
	}
	for _, name := range []string{"linearizable", "raft-safety", "convergence", "faults"} {
		if ran[name].Verdict != checker.Valid {
			t.Errorf("%s: %s, want valid:\n%s", name, ran[name].Verdict, out)
		}
	}
	t.Logf("linearizable: %s", ran["linearizable"].Explanation)
	if l := ran["linearizable"].Explanation; !strings.Contains(l, "stale object reads left out") {
		t.Errorf("the linearizable check judged no object operations: %s", l)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"../../../scenarios/liverun/testdata/graphql-kill.yaml", "--objects-api", "soap"}, `--objects-api "soap": want rest or graphql`},
		{[]string{"../../../scenarios/liverun/testdata/model-kill.yaml", "--objects-api", "graphql"}, "workload 2 changes the model"},
		{[]string{"leader-isolation", "--objects-api", "graphql"}, "no objects workload"},
	} {
		code, _, errs := shoal(t, append([]string{"live", "run"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("live run %q: exit %d, %q; want 3 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// Connector messages on a real cluster with the example model and
// pipeline, whose data leader is killed: the instances take the
// scenario's pipeline (--pipeline) and queue settings (--setting), and
// the delivery check finds every acknowledged message stored once or in
// the repair queue with its reason.
func TestLiveRunIngest(t *testing.T) {
	code, out, dir, results := liveRun(t, "../../../scenarios/liverun/testdata/ingest-kill.yaml", "--seed", "1")
	if code != exitValid || results.Verdict != checker.Valid {
		t.Fatalf("exit %d, verdict %s\n%s", code, results.Verdict, out)
	}
	ran := map[string]checker.Result{}
	for _, c := range results.Checkers {
		ran[c.Checker] = c
	}
	for _, name := range []string{"delivery", "raft-safety", "convergence", "faults"} {
		if ran[name].Verdict != checker.Valid {
			t.Errorf("%s: %s, want valid:\n%s", name, ran[name].Verdict, out)
		}
	}
	if d := ran["delivery"].Explanation; !strings.Contains(d, "in the repair queue with a reason") {
		t.Errorf("the delivery check does not say what it found: %s", d)
	}
	var members struct{ Settings map[string]string }
	b, err := os.ReadFile(filepath.Join(dir, "nodes", "n1", "data", "members.json"))
	if err == nil {
		err = json.Unmarshal(b, &members)
	}
	if err != nil || members.Settings["queue.batch"] != "16" || members.Settings["queue.retry_after"] != "200ms" {
		t.Errorf("n1 formed with settings %v (%v), want the scenario's queue.batch and queue.retry_after", members.Settings, err)
	}
}

// Clock and disk faults cannot reach real processes: the run says so in
// its output, its report and its faults check, and runs the rest.
func TestLiveRunListsFaultsItCannotApply(t *testing.T) {
	scenario := filepath.Join(t.TempDir(), "skew.yaml")
	if err := os.WriteFile(scenario, []byte(`name: skew
cluster: {instances: 3}
workload: {kind: kv, clients: 2, keys: 4, rate: 40}
duration: 3s
nemesis:
  - {at: 1s, fault: clock, target: n1, offset: 5s, for: 1s}
  - {at: 1s, fault: pause, target: n2, for: 1s}
final: {recover: 1s}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, dir, results := liveRun(t, scenario)
	if !strings.Contains(out, "not done as the scenario says: nemesis step 1 (clock)") {
		t.Errorf("output does not list the clock fault:\n%s", out)
	}
	report, _ := os.ReadFile(filepath.Join(dir, rundir.ReportFile))
	if !bytes.Contains(report, []byte("nemesis step 1 (clock): not applied")) {
		t.Errorf("the report does not list the clock fault")
	}
	var faults *checker.Result
	for i := range results.Checkers {
		if results.Checkers[i].Checker == "faults" {
			faults = &results.Checkers[i]
		}
	}
	if faults == nil || faults.Verdict != checker.Unknown || !strings.Contains(faults.Explanation, "cannot skew the clock") {
		t.Errorf("faults check: %+v; want unknown, naming the clock fault", faults)
	}
	if code != exitUnknown {
		t.Errorf("exit %d, want %d (unknown: a step never took effect)\n%s", code, exitUnknown, out)
	}
}

// Ctrl-C stops the run and every instance it started.
func TestLiveRunInterrupted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(os.Args[0], "live", "run", killLeader, "--out", dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Interrupt once the three instances serve.
	serving := func() bool {
		for _, n := range []string{"n1", "n2", "n3"} {
			log, _ := os.ReadFile(filepath.Join(dir, "nodes", n, "log"))
			if !bytes.Contains(log, []byte("ready to serve")) {
				return false
			}
		}
		return len(processesUnder(t, dir)) == 3
	}
	deadline := time.Now().Add(60 * time.Second)
	for !serving() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("three instances did not serve within 60s:\n%s", out.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("the run ended before it was interrupted: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err == nil {
			t.Errorf("an interrupted run exited 0:\n%s", out.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the run did not stop within 2m of SIGINT:\n%s", out.String())
	}
	if left := processesUnder(t, dir); len(left) > 0 {
		t.Errorf("instances still running after the interrupted run: %v\n%s", left, out.String())
	}
}

// The built-in scenarios the issue names, on real clusters: a leader cut
// off for 10s, and every instance killed in turn.
func TestLiveLibrary(t *testing.T) {
	if !*liveLibrary {
		t.Skip("runs with -live-library (make test-long)")
	}
	for _, tc := range [][]string{{"leader-isolation", "--nodes", "3"}, {"rolling-kill"}} {
		t.Run(tc[0], func(t *testing.T) {
			code, out, _, results := liveRun(t, tc...)
			requireValid(t, code, out, results)
		})
	}
}
