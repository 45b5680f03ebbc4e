package cli

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/live"
)

// fakeBackend is a fake: these tests are of the command-line client (its
// arguments, output, exit codes and choice of address), so behind the real
// API handler (live.NewAPI) the cluster is a map and a counter, and fails
// with err when told to.
type fakeBackend struct {
	mu      sync.Mutex
	data    map[string]string
	index   uint64
	err     error
	cluster live.ClusterStatus
	// stale counts the stale gets.
	stale int
}

func (f *fakeBackend) Do(ctx context.Context, req kv.Request) (kv.Response, error) {
	op, key, value, expected := req.Op, req.Key, req.Value, req.Expected
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return kv.Response{}, f.err
	}
	f.index++
	if req.Stale {
		f.stale++
	}
	current, found := f.data[key]
	resp := kv.Response{Status: kv.StatusOK, Index: f.index}
	switch op {
	case kv.OpGet:
		resp.Value = kv.Value{S: current, Present: found}
	case kv.OpPut:
		f.data[key] = value
	case kv.OpDelete:
		delete(f.data, key)
	case kv.OpCAS:
		if (kv.Value{S: current, Present: found}) != expected {
			resp.Status, resp.Value = kv.StatusMismatch, kv.Value{S: current, Present: found}
		} else {
			f.data[key] = value
		}
	}
	return resp, nil
}

func (f *fakeBackend) Cluster(context.Context) (live.ClusterStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cluster, f.err
}

func (f *fakeBackend) Ready() (bool, string) { return true, "" }

func (f *fakeBackend) has(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.data[key]
	return ok
}

// node serves the real API over a fakeBackend; it returns the backend and
// the node's address.
func node(t *testing.T) (*fakeBackend, string) {
	t.Helper()
	f := &fakeBackend{data: map[string]string{}}
	srv := httptest.NewServer(live.NewAPI(f, live.APIOptions{Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	return addr
}

// hangupAddr is a server that reads a request and closes the connection
// without an answer, like a node that dies while serving.
func hangupAddr(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type cliStep struct {
	args   []string
	code   int
	stdout string // exact
	stderr string // contained
}

func runSteps(t *testing.T, steps []cliStep) {
	t.Helper()
	for _, s := range steps {
		code, out, errs := shoal(t, s.args...)
		if code != s.code || out != s.stdout || !strings.Contains(errs, s.stderr) || (s.stderr == "" && errs != "") {
			t.Errorf("shoal %q: exit %d\nstdout: %q\nstderr: %q\nwant exit %d, stdout %q, stderr containing %q",
				s.args, code, out, errs, s.code, s.stdout, s.stderr)
		}
	}
}

func TestKV(t *testing.T) {
	f, addr := node(t)
	a := "--addr=" + addr
	runSteps(t, []cliStep{
		{args: []string{"kv", "get", "a", a}, code: exitInvalid, stderr: `shoal kv get: key "a" not found`},
		{args: []string{"kv", "put", "a", "1", a}, code: exitValid, stdout: "ok index 2\n"},
		{args: []string{"kv", "get", a, "a"}, code: exitValid, stdout: "1\n"},
		{args: []string{"kv", "cas", "a", "1", "2", a}, code: exitValid, stdout: "ok index 4\n"},
		{args: []string{"kv", "cas", "a", "1", "3", a}, code: exitInvalid, stdout: "mismatch: current value \"2\"\n"},
		{args: []string{"kv", "cas", "a", "3", "--absent", a}, code: exitInvalid, stdout: "mismatch: current value \"2\"\n"},
		{args: []string{"kv", "cas", "b", "x", "--absent", a}, code: exitValid, stdout: "ok index 7\n"},
		{args: []string{"kv", "delete", "a", a}, code: exitValid, stdout: "ok index 8\n"},
		{args: []string{"kv", "cas", "a", "1", "3", a}, code: exitInvalid, stdout: "mismatch: the key is absent\n"},
		{args: []string{"kv", "get", "a", a}, code: exitInvalid, stderr: `key "a" not found`},
		// Keys and values of any text: a slash, dots, a space, a dash.
		{args: []string{"kv", "put", a, "--", "a/b c", "-v"}, code: exitValid, stdout: "ok index 11\n"},
		{args: []string{"kv", "get", a, "--", "a/b c"}, code: exitValid, stdout: "-v\n"},
		{args: []string{"kv", "put", "..", "", a}, code: exitValid, stdout: "ok index 13\n"},
		{args: []string{"kv", "get", "..", a}, code: exitValid, stdout: "\n"},
		{args: []string{"kv", "put", "/", "slash", a}, code: exitValid, stdout: "ok index 15\n"},
		{args: []string{"kv", "get", "/", a}, code: exitValid, stdout: "slash\n"},
		// --json prints the node's answer as it is, with the same exit code.
		{args: []string{"kv", "get", "b", a, "--json"}, code: exitValid, stdout: `{"key":"b","value":"x","index":17}` + "\n"},
		{args: []string{"kv", "get", "a", a, "--json"}, code: exitInvalid, stdout: `{"error":"key not found","code":"not_found","key":"a","index":18}` + "\n", stderr: `key "a" not found`},
		{args: []string{"kv", "put", "b", "y", a, "--json"}, code: exitValid, stdout: `{"key":"b","value":"y","index":19}` + "\n"},
		{args: []string{"kv", "cas", "b", "x", "z", a, "--json"}, code: exitInvalid, stdout: `{"error":"cas: the key holds another value","code":"conflict","key":"b","current":"y","index":20}` + "\n"},
		{args: []string{"kv", "delete", "b", a, "--json"}, code: exitValid, stdout: `{"key":"b","index":21}` + "\n"},
		{args: []string{"kv", "get", "/", "--stale", a}, code: exitValid, stdout: "slash\n"},
		{args: []string{"kv", "put", "/", "x", "--stale", a}, code: exitUsage, stderr: "flag provided but not defined: -stale"},
	})
	if f.stale != 1 {
		t.Errorf("the node saw %d stale gets, want the one asked with --stale", f.stale)
	}
}

func TestKVFailures(t *testing.T) {
	unknown, unknownAddr := node(t)
	unknown.err = live.ErrUnknownOutcome
	unavailable, unavailableAddr := node(t)
	unavailable.err = live.ErrUnavailable
	broken, brokenAddr := node(t)
	broken.err = errors.New("disk on fire")
	notAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer notAPI.Close()
	dead, hangup := deadAddr(t), hangupAddr(t)
	runSteps(t, []cliStep{
		{args: []string{"kv", "put", "a", "1", "--addr", unknownAddr}, code: exitUnknown, stderr: "shoal kv put: the outcome is unknown: the request may or may not have taken effect"},
		{args: []string{"kv", "cas", "a", "1", "2", "--addr", unknownAddr}, code: exitUnknown, stderr: "the outcome is unknown"},
		{args: []string{"kv", "put", "a", "1", "--addr", unavailableAddr}, code: exitInternal, stderr: "503 Service Unavailable: unavailable, nothing was done"},
		{args: []string{"kv", "get", "a", "--addr", brokenAddr}, code: exitInternal, stderr: "500 Internal Server Error: internal error: disk on fire"},
		{args: []string{"kv", "get", "a", "--addr", notAPI.URL}, code: exitInternal, stderr: "answered 502 Bad Gateway, not the API's JSON: bad gateway"},
		// A write whose connection breaks may have been taken.
		{args: []string{"kv", "put", "a", "1", "--addr", hangup}, code: exitUnknown, stderr: "the outcome is unknown"},
		{args: []string{"kv", "get", "a", "--addr", hangup}, code: exitInternal, stderr: "no node answered: " + hangup + ": "},
		{args: []string{"kv", "get", "a", "--addr", dead + "," + dead}, code: exitInternal, stderr: "no node answered: " + dead + ": "},
		{args: []string{"kv", "put", "a", "1", "--addr", dead}, code: exitInternal, stderr: "connection refused"},
	})
}

func TestKVAddressFallback(t *testing.T) {
	good, goodAddr := node(t)
	unavailable, unavailableAddr := node(t)
	unavailable.err = live.ErrUnavailable
	dead, hangup := deadAddr(t), hangupAddr(t)
	runSteps(t, []cliStep{
		// Unreachable: nothing was sent, the next node takes it.
		{args: []string{"kv", "put", "a", "1", "--addr", dead + "," + goodAddr}, code: exitValid, stdout: "ok index 1\n"},
		// 503: the node did nothing, the next one takes it.
		{args: []string{"kv", "put", "b", "1", "--addr", unavailableAddr + "," + goodAddr}, code: exitValid, stdout: "ok index 2\n"},
		// A read is safe to send again after any failure, a write is not.
		{args: []string{"kv", "get", "a", "--addr", hangup + "," + goodAddr}, code: exitValid, stdout: "1\n"},
		{args: []string{"kv", "put", "c", "1", "--addr", hangup + "," + goodAddr}, code: exitUnknown, stderr: "the outcome is unknown"},
		// Addresses without a scheme, with spaces and empty entries.
		{args: []string{"kv", "get", "a", "--addr", " " + strings.TrimPrefix(dead, "http://") + ",, " + strings.TrimPrefix(goodAddr, "http://")}, code: exitValid, stdout: "1\n"},
	})
	if good.has("c") {
		t.Error("a write that may have been taken was sent again to the next node")
	}
	t.Setenv("SHOAL_ADDR", dead+","+goodAddr)
	runSteps(t, []cliStep{
		{args: []string{"kv", "get", "a"}, code: exitValid, stdout: "1\n"},
		{args: []string{"status", "--json"}, code: exitValid, stdout: `{"node":"","instances":null,"replicasets":null,"voters":null,"groups":null}` + "\n"},
	})
}

func TestKVUsage(t *testing.T) {
	long := strings.Repeat("k", live.MaxKeyLen+1)
	runSteps(t, []cliStep{
		{args: []string{"kv", "get"}, code: exitUsage, stderr: "shoal kv get: missing KEY"},
		{args: []string{"kv", "get", "a", "b"}, code: exitUsage, stderr: `unexpected argument "b" after KEY`},
		{args: []string{"kv", "put", "a"}, code: exitUsage, stderr: "missing VALUE"},
		{args: []string{"kv", "put", "a", "-1"}, code: exitUsage, stderr: "flag provided but not defined: -1"},
		{args: []string{"kv", "delete"}, code: exitUsage, stderr: "missing KEY"},
		{args: []string{"kv", "cas", "a", "b"}, code: exitUsage, stderr: "missing VALUE (or KEY VALUE --absent)"},
		{args: []string{"kv", "cas", "a", "b", "c", "--absent"}, code: exitUsage, stderr: `unexpected argument "c" after KEY VALUE (EXPECTED goes with --absent)`},
		{args: []string{"kv", "get", ""}, code: exitUsage, stderr: "KEY: must be 1 to 1024 bytes, got 0"},
		{args: []string{"kv", "get", long}, code: exitUsage, stderr: "KEY: must be 1 to 1024 bytes, got 1025"},
		{args: []string{"kv", "get", "a", "--addr", "ftp://x"}, code: exitUsage, stderr: `--addr: "ftp://x" is not an address such as http://127.0.0.1:7070`},
		{args: []string{"kv", "get", "a", "--addr", "http://x/v1"}, code: exitUsage, stderr: `--addr: "http://x/v1" is not an address`},
		{args: []string{"kv", "get", "a", "--addr", ","}, code: exitUsage, stderr: "--addr: no address given"},
		{args: []string{"kv", "get", "a", "--timeout", "0s"}, code: exitUsage, stderr: "--timeout 0s: want a positive duration"},
		{args: []string{"kv", "put", "a", "\xff"}, code: exitUsage, stderr: "VALUE: not valid UTF-8 (a key may hold any bytes, a value only text)"},
		{args: []string{"kv", "cas", "a", "\xff", "b"}, code: exitUsage, stderr: "EXPECTED: not valid UTF-8"},
		{args: []string{"kv", "get", "a", "--bogus"}, code: exitUsage, stderr: "flag provided but not defined: -bogus"},
		{args: []string{"kv", "put", "a", "1", "--absent"}, code: exitUsage, stderr: "flag provided but not defined: -absent"},
		{args: []string{"kv", "get", "-h"}, code: exitValid, stderr: "usage: shoal kv get KEY [--stale] [--addr ADDRS] [--json]"},
		{args: []string{"kv", "cas", "-h"}, code: exitValid, stderr: "-absent"},
		{args: []string{"kv"}, code: exitUsage, stderr: `unknown command "kv"`},
		{args: []string{"status", "x"}, code: exitUsage, stderr: "shoal status: takes no arguments"},
		{args: []string{"status", "--addr", "::"}, code: exitUsage, stderr: "--addr"},
	})
}

var exampleCluster = live.ClusterStatus{
	Node: "n2",
	Instances: []live.InstanceStatus{
		{Name: "n1", RaftID: 1, Replicaset: "rs1", Domain: map[string]string{"zone": "a", "rack": "r1"}, State: "online", Target: "online"},
		{Name: "n2", RaftID: 2, Replicaset: "rs1", Domain: map[string]string{"zone": "b"}, State: "online", Target: "online"},
		{Name: "n3", RaftID: 3, Replicaset: "rs2", State: "online", Target: "offline", Reason: "not heard from for 10s"},
		{Name: "n4", RaftID: 4, Replicaset: "rs2", Domain: map[string]string{"zone": "a"}, State: "online", Target: "online"},
		{Name: "n5", RaftID: 5, State: "expelled", Target: "expelled", Reason: "expelled by an operator"},
	},
	Replicasets: []live.ReplicasetStatus{
		{Name: "rs1", Group: 1, Members: []string{"n1", "n2"}, Complete: true, Leader: "n1"},
		{Name: "rs2", Group: 2, Members: []string{"n3", "n4"}, Complete: true},
		{Name: "rs3", Group: 3},
	},
	Voters: []string{"n1", "n2", "n4"},
	Groups: []live.GroupStatus{
		{Group: 0, Name: "config", Term: 12, Role: "leader", Leader: "n2", Commit: 1040, Applied: 1040},
		{Group: 1, Name: "rs1", Term: 3, Role: "follower", Leader: "n1", Commit: 98765, Applied: 98760},
	},
}

func TestStatus(t *testing.T) {
	f, addr := node(t)
	f.cluster = exampleCluster
	code, out, errs := shoal(t, "status", "--addr", deadAddr(t)+","+addr)
	want := `cluster as n2 (` + addr + `) sees it

INSTANCE  RAFT ID  REPLICASET  DOMAIN          STATE              GROUP 0  REASON
n1        1        rs1         rack=r1,zone=a  online             voter    -
n2        2        rs1         zone=b          online             voter    -
n3        3        rs2         -               online -> offline  learner  not heard from for 10s
n4        4        rs2         zone=a          online             voter    -
n5        5        -           -               expelled           -        expelled by an operator

REPLICASET  GROUP  LEADER  MEMBERS  COMPLETE
rs1         1      n1      n1,n2    yes
rs2         2      -       n3,n4    yes
rs3         3      -       -        no

group 0 voters: n1,n2,n4

raft groups on n2
GROUP  NAME    TERM  ROLE      LEADER  COMMIT  APPLIED
0      config  12    leader    n2      1040    1040
1      rs1     3     follower  n1      98765   98760
`
	if code != exitValid || out != want || errs != "" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errs, out, want)
	}

	code, out, _ = shoal(t, "status", "--addr", addr, "--json")
	var got live.ClusterStatus
	if err := json.Unmarshal([]byte(out), &got); code != exitValid || err != nil || !reflect.DeepEqual(got, exampleCluster) {
		t.Errorf("status --json: exit %d, %v:\n%s", code, err, out)
	}

	f.err = live.ErrUnavailable
	runSteps(t, []cliStep{
		{args: []string{"status", "--addr", addr}, code: exitInternal, stderr: "shoal status: " + addr + ": 503 Service Unavailable: unavailable, nothing was done"},
		{args: []string{"status", "--addr", deadAddr(t)}, code: exitInternal, stderr: "no node answered"},
	})
}
