// Package replaytest checks that a simulated run replays exactly: it runs
// the same world again in fresh processes, with GOMAXPROCS 1 and 2, and
// requires the same trace hash each time. Scheduling inside the process
// (pebble's goroutines, the garbage collector, the number of threads) must
// never reach the trace.
package replaytest

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// childEnv names the test a child process runs on its own.
const childEnv = "SHOAL_REPLAYTEST_CHILD"

var hashLine = regexp.MustCompile(`replaytest trace-hash: ([0-9a-f]{64})`)

// Check runs world in this process and again in two child processes (the
// test binary re-run with -test.run naming t), and fails t unless the
// three trace hashes agree. world must build, run and close one World and
// return its trace hash.
func Check(t *testing.T, world func(testing.TB) [32]byte) {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		h := world(t)
		fmt.Printf("replaytest trace-hash: %s\n", hex.EncodeToString(h[:]))
		return
	}
	h := world(t)
	want := hex.EncodeToString(h[:])
	for _, procs := range []string{"1", "2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), "GOMAXPROCS="+procs)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child with GOMAXPROCS=%s: %v\n%s", procs, err, out)
		}
		m := hashLine.FindSubmatch(out)
		if m == nil {
			t.Fatalf("child with GOMAXPROCS=%s printed no trace hash:\n%s", procs, out)
		}
		if got := string(m[1]); got != want {
			t.Errorf("GOMAXPROCS=%s: trace hash %s, this process %s", procs, got, want)
		}
	}
}
