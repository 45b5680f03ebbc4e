package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	upTo := func(n int) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(i + 1)
		}
		return s
	}
	for _, tc := range []struct {
		n    int
		p    float64
		want int64
	}{
		{1, 50, 1}, {1, 99.9, 1},
		{2, 50, 1}, {2, 99, 2},
		{10, 50, 5}, {10, 99, 10},
		{100, 50, 50}, {100, 99, 99}, {100, 99.9, 100},
		{1000, 99.9, 999}, {1000, 99, 990},
		{1001, 99.9, 1000},
	} {
		if got := percentile(upTo(tc.n), tc.p); got != tc.want {
			t.Errorf("p%v of 1..%d = %d, want %d", tc.p, tc.n, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %d, want 0", got)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--mix", "reads"},
		{"--api", "rows"},
		{"--api", "data", "--mix", "ingest"},
		{"--api", "data", "--system", "etcd"},
		{"--api", "graphql", "--read-consistency", "stale"},
		{"--api", "graphql-relation", "--mix", "ingest"},
		{"--clients", "0"},
		{"--duration", "0s"},
		{"--keys", "0"},
		{"--value-size", "-1"},
		{"--addr", "ftp://x"},
		{"--frobnicate"},
		{"extra"},
	} {
		if code, _, errs := shoal(t, append([]string{"bench"}, args...)...); code != exitUsage {
			t.Errorf("shoal bench %s: exit %d, want %d (%s)", strings.Join(args, " "), code, exitUsage, errs)
		}
	}
}

func TestBenchWithoutACluster(t *testing.T) {
	dead := freeAddrs(t, 2)
	code, out, errs := shoal(t, "bench", "--addr", dead[0]+","+dead[1], "--duration", "1s", "--timeout", "2s")
	if code != exitInternal || !strings.Contains(errs, "no node can be reached") || out != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and no node can be reached", code, out, errs, exitInternal)
	}
}

func TestTransportErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "transport: connection refused"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "transport: connection reset"},
		{fmt.Errorf("x: %w", errTimeout{}), "transport: timeout"},
		{fmt.Errorf("something else"), "transport: other"},
	} {
		if got := transportErrorKind(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

// TestBenchAgainstACluster loads a three-process cluster with each mix
// for a second and checks that the report adds up. It says nothing about
// speed.
func TestBenchAgainstACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	profile := filepath.Join(t.TempDir(), "n1.cpu")
	cluster := newCluster(t, 3, func(i int) []string {
		if i == 0 {
			return []string{"--log-level", "warn", "--cpuprofile", profile}
		}
		return []string{"--log-level", "warn"}
	})
	var addrs []string
	for _, in := range cluster {
		in.start(t)
		addrs = append(addrs, "http://"+in.http)
	}
	for _, in := range cluster {
		serveEventually(t, 30*time.Second, in.name+" acknowledging a write", func() error {
			a, err := servePut(in, "warm", "x")
			if err == nil && a.status != http.StatusOK {
				err = fmt.Errorf("%d %s", a.status, a.Error)
			}
			return err
		})
	}

	for _, mix := range []string{mixWrite, mixRead, mixMixed} {
		t.Run(mix, func(t *testing.T) {
			// One dead address among the live ones: left out, and said so.
			dead := freeAddrs(t, 1)[0]
			code, out, errs := shoal(t, "bench", "--addr", strings.Join(append(addrs, dead), ","), "--mix", mix,
				"--clients", "6", "--duration", "1s", "--warmup", "200ms", "--keys", "50", "--value-size", "32", "--json")
			if code != exitValid {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			var rep benchReport
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("the report is not the JSON it should be: %v\n%s", err, out)
			}
			if len(rep.Addrs) != 3 || len(rep.LeftOut) != 1 || rep.LeftOut[0] != "http://"+dead {
				t.Errorf("addrs %v, left out %v: want the three nodes, and %s left out", rep.Addrs, rep.LeftOut, dead)
			}
			if !strings.Contains(errs, "leaving out http://"+dead) {
				t.Errorf("stderr does not say %s was left out:\n%s", dead, errs)
			}
			if rep.OK == 0 || rep.Attempted != rep.OK+rep.Errors {
				t.Errorf("attempted %d, ok %d, errors %d: want some ok, and ok + errors = attempted", rep.Attempted, rep.OK, rep.Errors)
			}
			// A healthy cluster on loopback under light load answers
			// everything; an error here is worth a look.
			if rep.Errors != 0 || len(rep.ErrorsByKind) != 0 {
				t.Errorf("%d errors: %+v", rep.Errors, rep.ErrorsByKind)
			}
			if rep.NotFound != 0 && mix != mixWrite {
				t.Errorf("%d reads found no value, though every key was written first", rep.NotFound)
			}
			var sum benchOpReport
			for _, o := range rep.ByOp {
				sum.Attempted += o.Attempted
				sum.OK += o.OK
				sum.Errors += o.Errors
				if o.Attempted != o.OK+o.Errors {
					t.Errorf("by op %+v: ok + errors != attempted", o)
				}
			}
			if sum.Attempted != rep.Attempted || sum.OK != rep.OK || sum.Errors != rep.Errors {
				t.Errorf("by op sums to %+v; the total is attempted %d, ok %d, errors %d", sum, rep.Attempted, rep.OK, rep.Errors)
			}
			wantConsistency := map[string]string{mixWrite: "", mixRead: consistencyLinearizable, mixMixed: consistencyLinearizable}[mix]
			if rep.System != "shoal" || rep.ReadConsistency != wantConsistency || rep.Connections == "" || (mix != mixWrite) != (rep.Read != "") || (mix != mixRead) != (rep.Write != "") {
				t.Errorf("system %q, read consistency %q, read %q, write %q, connections %q: want shoal, %q, and what the mix's operations are",
					rep.System, rep.ReadConsistency, rep.Read, rep.Write, rep.Connections, wantConsistency)
			}
			wantOps := map[string][]string{mixWrite: {"write"}, mixRead: {"read"}, mixMixed: {"read", "write"}}[mix]
			if len(rep.ByOp) != len(wantOps) {
				t.Errorf("by op holds %d operations, want %v", len(rep.ByOp), wantOps)
			}
			for _, op := range wantOps {
				if o := rep.ByOp[op]; o == nil || o.OK == 0 {
					t.Errorf("no successful %s in a %s mix", op, mix)
				}
			}
			if want := float64(rep.OK) / rep.DurationS; rep.OpsPerSec != want {
				t.Errorf("ops/s %v, want ok/duration = %v", rep.OpsPerSec, want)
			}
			l := rep.Latency
			if !(0 < l.P50 && l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Mean <= l.Max) {
				t.Errorf("latency %+v: want 0 < p50 <= p99 <= p99.9 <= max, mean <= max", l)
			}
		})
	}

	// Stale reads: answered from a replica, and said to be so by the
	// Shoal-Consistency header, or counted as errors.
	t.Run("stale", func(t *testing.T) {
		code, out, errs := shoal(t, "bench", "--addr", strings.Join(addrs, ","), "--mix", mixRead, "--read-consistency", consistencyStale,
			"--clients", "6", "--duration", "1s", "--warmup", "200ms", "--keys", "50", "--json")
		if code != exitValid {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		var rep benchReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.ReadConsistency != consistencyStale || !strings.Contains(rep.Read, "?consistency=stale") {
			t.Errorf("read consistency %q, read %q: want stale", rep.ReadConsistency, rep.Read)
		}
		if rep.OK == 0 || rep.Errors != 0 || rep.NotFound != 0 {
			t.Errorf("ok %d, errors %d %+v, not found %d: want every stale read of a written key to find it", rep.OK, rep.Errors, rep.ErrorsByKind, rep.NotFound)
		}
	})

	t.Run("table", func(t *testing.T) {
		code, out, errs := shoal(t, "bench", "--addr", addrs[1], "--mix", mixMixed, "--clients", "2", "--duration", "300ms", "--warmup", "0s", "--keys", "10")
		if code != exitValid {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		for _, want := range []string{"shoal bench: shoal, mixed mix, 2 clients over " + addrs[1] + ",", "  read (linearizable): GET /v1/kv/{key}", "  write: PUT /v1/kv/{key}",
			"errors  ops/s  p50 ms  p99 ms  p99.9 ms  max ms", "latency: exact"} {
			if !strings.Contains(out, want) {
				t.Errorf("the table lacks %q:\n%s", want, out)
			}
		}
		rows := map[string]bool{}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 8 {
				rows[f[0]] = true
			}
		}
		for _, op := range []string{"read", "write", "all"} {
			if !rows[op] {
				t.Errorf("the table has no row %q:\n%s", op, out)
			}
		}
	})

	// --api data: refused at once without the example model; with it,
	// Customers written and read through /v1/data, every one an object
	// the listing finds.
	t.Run("data", func(t *testing.T) {
		args := []string{"bench", "--addr", strings.Join(addrs, ","), "--api", apiData, "--mix", mixMixed,
			"--clients", "4", "--duration", "1s", "--warmup", "200ms", "--keys", "40", "--json"}
		code, _, errs := shoal(t, args...)
		if code != exitInternal || !strings.Contains(errs, "example model") {
			t.Fatalf("without a model: exit %d, want %d naming the example model:\n%s", code, exitInternal, errs)
		}
		if code, out, errs := shoal(t, "model", "apply", "../../../scenarios/examples/model.yaml", "--addr", addrs[0]); code != exitValid {
			t.Fatalf("model apply: exit %d\n%s\n%s", code, out, errs)
		}
		// Accepted is committed in group 0; the other instances have it in
		// force once they applied it, a heartbeat or so later.
		for _, a := range addrs {
			serveEventually(t, 10*time.Second, a+" with the model in force", func() error {
				status, body, err := dataCall("GET", a+"/v1/model", "")
				if err == nil && status != 200 {
					err = fmt.Errorf("%d %s", status, body)
				}
				return err
			})
		}
		code, out, errs := shoal(t, args...)
		if code != exitValid {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		var rep benchReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.OK == 0 || rep.Errors != 0 || !strings.HasPrefix(rep.Write, "PUT /v1/data/Customer/{key}") || !strings.HasPrefix(rep.Read, "GET /v1/data/Customer/{key}") {
			t.Errorf("ok %d, errors %d %+v, write %q, read %q", rep.OK, rep.Errors, rep.ErrorsByKind, rep.Write, rep.Read)
		}
		resp, err := http.Get(addrs[2] + "/v1/data/Customer?last_name=Bench&limit=1000")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list struct {
			Items []struct{ Key string }
			Next  string
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("listing: %d %v", resp.StatusCode, err)
		}
		if len(list.Items) == 0 || len(list.Items) > 40 || list.Next != "" {
			t.Errorf("the listing found %d Customers (next %q), want 1 to 40 and no next", len(list.Items), list.Next)
		}
	})

	// --api graphql and graphql-relation: Customers through /v1/graphql
	// (the model is in force from the data run); the relation run gives
	// every customer its orders first, and every read finds them.
	for _, api := range []string{apiGraphQL, apiGraphQLRelation} {
		t.Run(api, func(t *testing.T) {
			code, out, errs := shoal(t, "bench", "--addr", strings.Join(addrs, ","), "--api", api, "--mix", mixMixed,
				"--clients", "4", "--duration", "1s", "--warmup", "200ms", "--keys", "20", "--json")
			if code != exitValid {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			var rep benchReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.OK == 0 || rep.Errors != 0 || rep.ByOp["read"] == nil || rep.ByOp["read"].OK == 0 ||
				!strings.HasPrefix(rep.Write, "POST /v1/graphql putCustomer") || rep.Read != graphqlRead[api] {
				t.Errorf("ok %d, errors %d %+v, write %q, read %q", rep.OK, rep.Errors, rep.ErrorsByKind, rep.Write, rep.Read)
			}
		})
	}
	resp, err := http.Post(addrs[1]+"/v1/graphql", "application/json", strings.NewReader(`{"query": "{ Customer(id: \"bench-000007\") { orders { edges { node { id total } } } } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"data":{"Customer":{"orders":{"edges":[{"node":{"id":"o1","total":"9.5"}},{"node":{"id":"o2","total":"9.5"}}]}}}}`; strings.TrimSpace(string(b)) != want {
		t.Errorf("bench-000007 with its orders: %s, want %s", b, want)
	}

	// The hidden --cpuprofile of shoal serve: written on a clean stop.
	for _, in := range cluster {
		in.signal(t, syscall.SIGTERM)
	}
	for _, in := range cluster {
		if code := in.wait(t); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM, want 0", in.name, code)
		}
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Errorf("serve --cpuprofile wrote no profile: %v", err)
	}
}

func TestCutCPUProfileFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		file string
		rest []string
	}{
		{[]string{"--name", "n1"}, "", []string{"--name", "n1"}},
		{[]string{"--cpuprofile", "p.cpu", "--name", "n1"}, "p.cpu", []string{"--name", "n1"}},
		{[]string{"--name", "n1", "-cpuprofile=p.cpu"}, "p.cpu", []string{"--name", "n1"}},
		{[]string{"--name", "--", "--cpuprofile", "x"}, "", []string{"--name", "--", "--cpuprofile", "x"}},
	} {
		file, rest, err := cutCPUProfileFlag(tc.args)
		if err != nil || file != tc.file || !slices.Equal(rest, tc.rest) {
			t.Errorf("%q: %q %q %v, want %q %q", tc.args, file, rest, err, tc.file, tc.rest)
		}
	}
	if _, _, err := cutCPUProfileFlag([]string{"--cpuprofile"}); err == nil {
		t.Error("--cpuprofile without a file: no error")
	}
	if code, _, errs := shoal(t, "serve", "--help"); code != exitValid || strings.Contains(errs, "cpuprofile") {
		t.Errorf("serve --help: exit %d, or it shows the hidden flag:\n%s", code, errs)
	}
}
